from booking.app import service
from shared.cli import main

main(service)
