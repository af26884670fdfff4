"""notify's own workers, beside every service's relay, consumer and pruner: the
dispatcher (``dispatch``), the reconciler of sends in doubt (``reconcile``) and the
policy re-planner (``replan``). Each is a ``shared.periodic.Periodic``."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

from notify.adapters.sms import TwilioGateway
from notify.api import twilio_webhooks
from notify.settings import NotifySettings
from notify.use_cases.scheduling import Clinic
from notify.workers.dispatcher import Dispatcher, Retrying
from notify.workers.rate_limit import SegmentRate
from notify.workers.reconciler import Reconciler
from notify.workers.replanner import PolicyReplanner
from shared.service import Runtime, Worker


def with_twilio(settings: NotifySettings, work: Callable[[TwilioGateway], Worker]) -> Worker:
    """A worker that talks to Twilio through a gateway of its own, closed when it stops."""

    async def run() -> None:
        gateway = TwilioGateway(settings)
        try:
            await work(gateway)()
        finally:
            await gateway.close()

    return run


def dispatcher(runtime: Runtime[NotifySettings]) -> Worker:
    settings = runtime.settings

    def dispatch(gateway: TwilioGateway) -> Worker:
        return Dispatcher(
            sessions=runtime.sessions,
            gateway=gateway,
            clock=runtime.clock,
            status_callback=settings.public_url.rstrip("/") + twilio_webhooks.STATUS_CALLBACK_PATH,
            batch_size=settings.dispatch_batch_size,
            interval=settings.dispatch_interval_seconds,
            lease=timedelta(seconds=settings.dispatch_lease_seconds),
            rate=SegmentRate(settings.sms_segments_per_second, settings.sms_burst_segments),
            retrying=Retrying(
                base=timedelta(seconds=settings.retry_base_seconds),
                cap=timedelta(seconds=settings.retry_max_seconds),
                max_attempts=settings.max_send_attempts,
            ),
        ).run

    return with_twilio(settings, dispatch)


def reconciler(runtime: Runtime[NotifySettings]) -> Worker:
    settings = runtime.settings

    def reconcile(gateway: TwilioGateway) -> Worker:
        return Reconciler(
            sessions=runtime.sessions,
            gateway=gateway,
            clock=runtime.clock,
            grace=timedelta(seconds=settings.reconcile_grace_seconds),
            interval=settings.reconcile_interval_seconds,
        ).run

    return with_twilio(settings, reconcile)


def policy_replanner(runtime: Runtime[NotifySettings]) -> Worker:
    settings = runtime.settings
    clinic = Clinic(name=settings.clinic_name, time_zone=settings.clinic_time_zone)
    return PolicyReplanner(
        sessions=runtime.sessions,
        clinic=clinic,
        clock=runtime.clock,
        batch_size=settings.replan_batch_size,
        interval=settings.replan_interval_seconds,
    ).run


#: The workers ``python -m notify <name>`` runs, by name.
WORKERS: dict[str, Callable[[Runtime[NotifySettings]], Worker]] = {
    "dispatch": dispatcher,
    "reconcile": reconciler,
    "replan": policy_replanner,
}
