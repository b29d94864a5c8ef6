"""Why an inquiry went to another specialist, as the client reads it (policy 10.3: "explain why").

Staff pick a reason from this list in their own language (the dashboard's labels), and the client
is told it in theirs, so a Russian-speaking client never reads a Latvian reason typed by staff. A
reason written by hand is sent as it was written: the form asks for it in the client's language.
"""

from __future__ import annotations

REDIRECT_REASONS: dict[str, dict[str, str]] = {
    "other_field": {
        "lv": "jautājums attiecas uz citu jomu",
        "ru": "вопрос относится к другой области",
        "en": "the question concerns another field",
    },
    "specialist": {
        "lv": "atbildei vajadzīgas šī speciālista zināšanas",
        "ru": "для ответа нужны знания этого специалиста",
        "en": "the answer needs this specialist's knowledge",
    },
    "absence": {
        "lv": "iepriekšējais speciālists ir prombūtnē",
        "ru": "прежний специалист отсутствует",
        "en": "the previous specialist is away",
    },
    "sooner": {
        "lv": "lai jūs saņemtu atbildi ātrāk",
        "ru": "чтобы вы получили ответ быстрее",
        "en": "so that you get an answer sooner",
    },
}

# Reasons the service gives itself, never offered to staff: a complaint's later message names the
# employee who holds it (ingest/pipeline/complaint_names.py).
SERVICE_REASONS: dict[str, dict[str, str]] = {
    "complaint_names_handler": {
        "lv": "lai sūdzību izskatītu darbinieks, uz kuru tā neattiecas",
        "ru": "чтобы жалобу рассмотрел сотрудник, которого она не касается",
        "en": "so that the complaint is examined by an employee it does not concern",
    },
}


def reason_for_client(code: str | None, written: str, language: str) -> str:
    """The chosen reason in the client's language (Latvian when theirs is not one of ours), else what
    staff wrote."""
    texts = REDIRECT_REASONS.get(code or "") or SERVICE_REASONS.get(code or "")
    if texts is None:
        return written
    return texts.get(language) or texts["lv"]
