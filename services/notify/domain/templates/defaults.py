"""The clinic's default SMS texts, per language and kind (admins may override each).

Written in the GSM-7 alphabet (no ç, ê, â, î, ô, û in French) so two segments hold
320 characters rather than 134, and naming no treatment or body area: an SMS may be
read by someone else. ``{{ treatment }}`` exists only when the policy's full_text is on.
"""

from __future__ import annotations

from shared.contracts.notify import MessageKind

_EN = {
    MessageKind.INVITATION: (
        "{{ clinic }}: it is time to book{% if session_number %} session {{ session_number }}"
        " of {{ total_sessions }}{% else %} your next session{% endif %}"
        "{% if latest_date %} (by {{ latest_date }}){% endif %}. Choose a time: {{ link }}"
    ),
    MessageKind.CONFIRMATION: (
        "{{ clinic }}: your appointment{% if session_number %} (session {{ session_number }}"
        " of {{ total_sessions }}){% endif %} is {% if rescheduled %}moved to"
        "{% else %}booked for{% endif %} {{ date }} at {{ time }}."
        "{% if cream_ready %} Get a numbing cream (lidocaine/prilocaine) before then."
        "{% endif %}{% if apply_time %} Apply it on {{ apply_day }} at {{ apply_time }},"
        " covered with film.{% endif %} Reply C to confirm, R to reschedule, STOP to opt out."
    ),
    MessageKind.REMINDER_24H: (
        "{{ clinic }}: reminder of your appointment on {{ date }} at {{ time }}."
        "{% if not confirmed %} Reply C to confirm or R to reschedule.{% endif %}"
        "{% if details_url %} Details: {{ details_url }}{% endif %}"
    ),
    MessageKind.REMINDER_2H: "{{ clinic }}: see you today at {{ time }}.",
    MessageKind.CREAM_READY: (
        "{{ clinic }}: for your appointment on {{ date }} at {{ time }}, have your numbing"
        " cream ready. You will apply it on {{ apply_day }} at {{ apply_time }}, covered with film."
    ),
    MessageKind.CREAM_APPLY: (
        "{{ clinic }}: apply your numbing cream on {{ apply_day }} at {{ apply_time }}, covered"
        " with film, for your appointment at {{ time }}."
    ),
    MessageKind.CANCELLATION: (
        "{{ clinic }}: your appointment on {{ date }} at {{ time }} is cancelled."
        "{% if help_contact %} Questions: {{ help_contact }}{% endif %}"
    ),
    MessageKind.HELP: (
        "{{ clinic }}: reply C to confirm your next appointment, R to reschedule it,"
        " STOP to opt out.{% if help_contact %} Contact: {{ help_contact }}{% endif %}"
    ),
    MessageKind.OFFER: (
        "{{ clinic }}: {% if moving_date %}your appointment of {{ moving_date }} can move"
        " earlier: {% endif %}a place freed up on {{ date }} at {{ time }}"
        "{% if session_number and not moving_date %} for session {{ session_number }} of"
        " {{ total_sessions }}{% endif %}. It is yours if you take it by {{ claim_time }}:"
        " {{ link }} Reply NO to pass it on."
    ),
}

_FR = {
    MessageKind.INVITATION: (
        "{{ clinic }} : il est temps de réserver{% if session_number %} la séance"
        " {{ session_number }} sur {{ total_sessions }}{% else %} votre prochaine séance"
        "{% endif %}{% if latest_date %} (avant le {{ latest_date }}){% endif %}."
        " Choisissez un horaire : {{ link }}"
    ),
    MessageKind.CONFIRMATION: (
        "{{ clinic }} : votre rendez-vous{% if session_number %} (séance {{ session_number }}"
        " sur {{ total_sessions }}){% endif %} est {% if rescheduled %}déplacé au"
        "{% else %}réservé le{% endif %} {{ date }} à {{ time }}."
        "{% if cream_ready %} Procurez-vous une crème anesthésiante (lidocaine/prilocaine)."
        "{% endif %}{% if apply_time %} Appliquez-la le {{ apply_day }} à {{ apply_time }},"
        " sous film.{% endif %} Répondez C pour confirmer, R pour déplacer, STOP pour"
        " ne plus recevoir de SMS."
    ),
    MessageKind.REMINDER_24H: (
        "{{ clinic }} : rappel de votre rendez-vous le {{ date }} à {{ time }}."
        "{% if not confirmed %} Répondez C pour confirmer ou R pour déplacer.{% endif %}"
        "{% if details_url %} Détails : {{ details_url }}{% endif %}"
    ),
    MessageKind.REMINDER_2H: "{{ clinic }} : à tout à l'heure, rendez-vous à {{ time }}.",
    MessageKind.CREAM_READY: (
        "{{ clinic }} : pour votre rendez-vous le {{ date }} à {{ time }}, préparez votre"
        " crème anesthésiante. Vous l'appliquerez le {{ apply_day }} à {{ apply_time }},"
        " sous film."
    ),
    MessageKind.CREAM_APPLY: (
        "{{ clinic }} : appliquez votre crème anesthésiante le {{ apply_day }} à"
        " {{ apply_time }}, sous film, pour votre rendez-vous de {{ time }}."
    ),
    MessageKind.CANCELLATION: (
        "{{ clinic }} : votre rendez-vous du {{ date }} à {{ time }} est annulé."
        "{% if help_contact %} Questions : {{ help_contact }}{% endif %}"
    ),
    MessageKind.HELP: (
        "{{ clinic }} : répondez C pour confirmer votre prochain rendez-vous, R pour le"
        " déplacer, STOP pour ne plus recevoir de SMS.{% if help_contact %} Contact :"
        " {{ help_contact }}{% endif %}"
    ),
    MessageKind.OFFER: (
        "{{ clinic }} : {% if moving_date %}votre rendez-vous du {{ moving_date }} peut"
        " avancer : {% endif %}une place s'est libérée le {{ date }} à {{ time }}"
        "{% if session_number and not moving_date %} pour la séance {{ session_number }} sur"
        " {{ total_sessions }}{% endif %}. Elle est à vous si vous la prenez avant"
        " {{ claim_time }} : {{ link }} Répondez NON pour la laisser."
    ),
}

DEFAULT_TEMPLATES: dict[str, dict[MessageKind, str]] = {"en": _EN, "fr": _FR}

#: Day and month names per language, so dates read naturally without the OS's locales.
DAY_NAMES = {
    "en": ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"),
    "fr": ("lun.", "mar.", "mer.", "jeu.", "ven.", "sam.", "dim."),
}
_EN_MONTHS = "Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec"
_FR_MONTHS = "janv. févr. mars avr. mai juin juil. aout sept. oct. nov. déc."
MONTH_NAMES = {
    "en": tuple(_EN_MONTHS.split()),
    "fr": tuple(_FR_MONTHS.split()),
}
