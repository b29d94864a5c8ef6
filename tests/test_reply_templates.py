"""Reply templates (policy 16): the folder's file format, the choice for a topic and language, the
placeholders, the sandbox, and a broken file named at start-up. No service, no database."""

from __future__ import annotations

from pathlib import Path

import pytest

from ingest.outgoing.reply_templates import (
    DEFAULT_DIR,
    SAMPLE,
    ReplyTemplateError,
    ReplyTemplates,
    ReplyValues,
    Signer,
)

TOPICS = {"atkritumi", "siltums", "nami"}
VALUES = ReplyValues(
    client_name="Anna Liepa", reference="GK-2026-000042", due="12.03.2026 17:00",
    employee=Signer(name="Jānis", surname="Kalniņš", position="Atkritumu apsaimniekošanas speciālists"),
)  # fmt: skip


def folder(tmp_path: Path, **files: str) -> Path:
    """``name_lv="..."`` becomes ``name.lv.txt``."""
    for stem, text in files.items():
        name, _, language = stem.rpartition("_")
        (tmp_path / f"{name}.{language}.txt").write_text(text, encoding="utf-8")
    return tmp_path


def test_the_shipped_examples_load_for_every_language() -> None:
    shipped = ReplyTemplates.load(topics={"atkritumi", "siltums", "celi", "nami", "rekini"})
    assert len(shipped) >= 6
    for language in ("lv", "ru", "en"):
        suggested, _ = shipped.choices(topic="atkritumi", language=language)
        assert len(suggested) >= 2 and all(t.language == language for t in suggested)
    assert DEFAULT_DIR.name == "replies"


def test_format_placeholders_and_the_choice_for_topic_and_language(tmp_path: Path) -> None:
    replies = ReplyTemplates.load(
        folder(
            tmp_path,
            grafiks_lv="Izvešanas grafiks\ntopic: atkritumi, nami\n\nLabdien, {{ client_name }}! Pieprasījums "
            "{{ reference }}, atbilde līdz {{ due }}.\n"
            "{{ employee.name }} {{ employee.surname }}, {{ employee.position }}\n",
            info_lv="Papildu informācija\n\nLūdzu, norādiet adresi ({{ reference }}).",
            info_ru="Уточнение\n\nУкажите адрес ({{ reference }}).",
            apkure_lv="Apkure\ntopic: siltums\n\nApkure tiks atjaunota.",
        ),
        topics=TOPICS,
    )
    grafiks = replies.get("grafiks.lv")
    assert grafiks is not None and grafiks.title == "Izvešanas grafiks" and grafiks.topics == ("atkritumi", "nami")
    assert replies.render(grafiks, VALUES) == (
        "Labdien, Anna Liepa! Pieprasījums GK-2026-000042, atbilde līdz 12.03.2026 17:00.\n"
        "Jānis Kalniņš, Atkritumu apsaimniekošanas speciālists"
    )
    # The topic's own first, then those for every topic; the rest after them, the client's language first.
    suggested, others = replies.choices(topic="atkritumi", language="lv")
    assert [t.key for t in suggested] == ["grafiks.lv", "info.lv"]
    assert [t.key for t in others] == ["apkure.lv", "info.ru"]
    suggested, others = replies.choices(topic="atkritumi", language="ru")
    assert [t.key for t in suggested] == ["info.ru"]
    assert [t.key for t in others][:1] == ["apkure.lv"] or others[0].language == "lv"
    suggested, _ = replies.choices(topic=None, language="lv")
    assert [t.key for t in suggested] == ["info.lv"], "without a topic: only the templates for every topic"
    assert replies.get("nav.lv") is None and replies.get("../grafiks.lv") is None and replies.get(None) is None


@pytest.mark.parametrize(
    "body",
    [
        "{{ ''.__class__.__mro__ }}",
        "{{ employee.__class__ }}",
        "{{ employee.__init__.__globals__ }}",
        "{{ cycler.__init__.__globals__.os.popen('id').read() }}",
        "{{ 'x' * 1000000 }}",
        "{{ 9 ** 9 ** 9 }}",
    ],
)
def test_the_sandbox_refuses_to_reach_python(tmp_path: Path, body: str) -> None:
    with pytest.raises(ReplyTemplateError) as error:
        ReplyTemplates.load(folder(tmp_path, evil_lv=f"Ļauns\n\n{body}"), topics=TOPICS)
    assert str(error.value).startswith("evil.lv.txt: ")


@pytest.mark.parametrize(
    ("files", "named", "why"),
    [
        ({"typo_lv": "Virsraksts\n\nLabdien, {{ klienta_vards }}!"}, "typo.lv.txt", "klienta_vards"),
        ({"syntax_ru": "Заголовок\n\n{% if reference %}без конца"}, "syntax.ru.txt", "endif"),
        ({"topic_en": "Title\ntopic: atkritumi, lifts\n\nText."}, "topic.en.txt", "unknown topic lifts"),
        ({"header_lv": "Virsraksts\ntēma: atkritumi\n\nTeksts."}, "header.lv.txt", "unknown header line"),
        ({"empty_lv": "Tikai virsraksts\n"}, "empty.lv.txt", "a title on the first line"),
    ],
)
def test_a_broken_template_is_reported_with_its_file_name(
    tmp_path: Path, files: dict[str, str], named: str, why: str
) -> None:
    with pytest.raises(ReplyTemplateError) as error:
        ReplyTemplates.load(folder(tmp_path, **files), topics=TOPICS)
    assert str(error.value).startswith(f"{named}: ") and why in str(error.value)


def test_files_that_are_not_templates(tmp_path: Path) -> None:
    (tmp_path / "Grafiks.de.txt").write_text("Titel\n\nText", encoding="utf-8")
    with pytest.raises(ReplyTemplateError, match=r"^Grafiks\.de\.txt: the name must be"):
        ReplyTemplates.load(tmp_path)
    (tmp_path / "Grafiks.de.txt").unlink()
    (tmp_path / "latin1.lv.txt").write_bytes("Virsraksts\n\nGrüße".encode("latin-1"))
    with pytest.raises(ReplyTemplateError, match=r"^latin1\.lv\.txt: not UTF-8"):
        ReplyTemplates.load(tmp_path)
    with pytest.raises(ReplyTemplateError, match="does not exist"):
        ReplyTemplates.load(tmp_path / "nav")
    assert SAMPLE.reference.startswith("GK-")


def test_check_config_names_the_broken_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import argparse

    from ingest.cli.serve import cmd_check_config

    root = Path(__file__).resolve().parent.parent
    example = (root / "config.example.toml").read_text(encoding="utf-8")
    assert '# reply_templates_dir = "replies"' in example, "the example documents the key"
    folder(tmp_path / "replies" if (tmp_path / "replies").mkdir() is None else tmp_path,
           apkure_lv="Apkure\n\n{{ employee.telefons }}")  # fmt: skip
    config = tmp_path / "config.toml"
    config.write_text(example.replace('# reply_templates_dir = "replies"', 'reply_templates_dir = "replies"'),
                      encoding="utf-8")  # fmt: skip
    assert cmd_check_config(argparse.Namespace(file=str(config))) == 2
    err = capsys.readouterr().err
    assert "template error: apkure.lv.txt: " in err and "telefons" in err and "Traceback" not in err
    (tmp_path / "replies" / "apkure.lv.txt").write_text("Apkure\n\n{{ employee.position }}", encoding="utf-8")
    assert cmd_check_config(argparse.Namespace(file=str(config))) == 0


def test_settings_resolve_the_folder_relative_to_the_config(tmp_path: Path) -> None:
    from ingest.assembly import reply_templates
    from ingest.config import parse_config
    from tests.support import example_document

    replies_dir = tmp_path / "atbildes"
    replies_dir.mkdir()
    folder(replies_dir, labi_lv="Labi\n\nLabdien!", slikti_ru="Плохо\n\n{{ nav }}")
    doc = example_document()
    doc["client_messages"] = {**doc.get("client_messages", {}), "reply_templates_dir": "atbildes"}
    settings = parse_config(doc, base_dir=tmp_path, env={})
    assert settings.client_messages.reply_templates_dir == replies_dir.resolve()
    with pytest.raises(ReplyTemplateError, match=r"^slikti\.ru\.txt: .*nav"):
        reply_templates(settings)
    (replies_dir / "slikti.ru.txt").unlink()
    assert reply_templates(settings).get("labi.lv") is not None
