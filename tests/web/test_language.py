"""Every page and error page in both languages, on the demo data: nothing a person reads in the
Chinese pages is left in English, the catalogue covers every word the code marks, and the language
chosen before signing in stays after it."""

from __future__ import annotations

import re
import string

from babel.messages.extract import extract_from_dir
from babel.messages.pofile import read_po
from lxml import html as lxml_html

from approvals.config import PROJECT_ROOT
from approvals.models import Incident, ProcessDefinition, Task, TaskState, User
from tests.web.conftest import csrf_of
from tests.web.conftest import sign_in_client as sign_in

CATALOGUE = PROJECT_ROOT / "src" / "approvals" / "web" / "translations" / "zh" / "LC_MESSAGES" / "messages.po"


def catalogue():
    with CATALOGUE.open("rb") as po:
        return read_po(po)


def test_the_catalogue_translates_every_word_the_code_marks():
    keywords = {"_": None, "gettext": None, "N_": None, "msg": None, "translate": None}
    method_map = [("src/approvals/**.py", "python"), ("src/approvals/web/templates/**.html", "jinja2")]
    marked = {
        message
        for _file, _line, message, _comments, _context in extract_from_dir(
            str(PROJECT_ROOT), method_map=method_map, keywords=keywords
        )
        if isinstance(message, str)
    }
    translated = {m.id: m.string for m in catalogue() if m.id}
    assert sorted(m for m in marked if not translated.get(m)) == []  # run `make catalog`, then translate
    assert sorted(m for m in marked if translated[m] == m) == []  # a copy is no translation
    # A translation uses exactly the values its message fills in: one it does not have would fail.
    fields = {m: {f for _, f, _, _ in string.Formatter().parse(m) if f} for m in marked if "{" in m}
    wrong = [
        m for m, names in fields.items() if {f for _, f, _, _ in string.Formatter().parse(translated[m]) if f} != names
    ]
    assert wrong == []


def shown_text(page: str) -> str:
    """What a person reads: the text of the page and the attributes a browser shows."""
    tree = lxml_html.fromstring(page)
    for hidden in tree.xpath("//script|//style|//template|//textarea|//pre|//code"):
        hidden.drop_tree()
    shown = [tree.text_content()]
    shown += tree.xpath("//@placeholder|//@title|//@aria-label|//input[@type='submit']/@value")
    return re.sub(r"\s+", " ", " ".join(shown))


def english_left(text: str, messages: list[str]) -> list[str]:
    """Messages of the catalogue (phrases of two words or more) that appear untranslated."""
    return [m for m in messages if m in text]


def tour(app, database) -> list[tuple[str, str, int]]:
    """(user, path, expected status) for every page and error page of the demo."""
    with database.session() as session:
        open_steps = session.query(Task).filter(Task.state.in_([TaskState.OPEN, TaskState.CLAIMED])).all()
        steps = [(f"{t.agency_code.lower()}_staff", f"/tasks/{t.id}", 200) for t in open_steps]
        projects = [code for (code,) in session.execute(__import__("sqlalchemy").text("SELECT code FROM project"))]
        models = session.query(ProcessDefinition).all()
        forms = {(d.key, name) for d in models for name in d.forms}
        incidents = [i.id for i in session.query(Incident).all()]
        agencies = {u.agency_code for u in session.query(User).all()}
    pages = [("drc_staff", "/tasks", 200), ("drc_lead", "/tasks", 200), ("observer", "/tasks", 200)]
    pages += [("drc_staff", "/tasks?state=completed", 200), ("drc_staff", "/tasks?state=all&process=tendering", 200)]
    pages += steps
    pages += [("observer", "/projects", 200)] + [("observer", f"/projects/{code}", 200) for code in projects]
    pages += [("owner", "/models", 200)] + [("owner", f"/models/{key}", 200) for key in sorted({d.key for d in models})]
    pages += [("drc_staff", f"/models/{key}", 200) for key in {d.key for d in models}]
    pages += [("owner", f"/models/{key}/forms/{name}", 200) for key, name in sorted(forms)]
    pages += [("admin", "/admin", 200), ("admin", "/admin/users/drc_staff", 200), ("admin", "/incidents", 200)]
    pages += [("admin", "/admin/webhooks", 200), ("drc_staff", "/me", 200)]
    pages += [("drc_staff", "/away", 200)]
    pages += [("admin", f"/incidents/{i}", 200) for i in incidents]
    pages += [(f"{code.lower()}_staff", "/tasks", 200) for code in agencies if code != "HQ"]
    # error pages
    pages += [
        ("drc_staff", "/no-such-page", 404),
        ("drc_staff", "/tasks/99999999", 404),
        ("drc_staff", "/projects/NO-SUCH", 404),
        ("drc_staff", "/admin", 403),
        ("admin", "/admin?year=99999", 422),
        ("drc_staff", "/logout", 405),
    ]
    return pages


def test_every_page_and_error_reads_in_chinese_and_in_english(demo_app):
    app, database = demo_app
    phrases = sorted(
        (m.id for m in catalogue() if m.id and " " in m.id and "{" not in m.id and m.id not in m.string),
        key=len,
        reverse=True,
    )  # English phrases of the catalogue (those a translation keeps, as "JSON Schema", aside)
    clients = {}
    left: dict[str, list[str]] = {}
    for user, path, status in tour(app, database):
        for lang in ("zh", "en"):
            client = clients.get((user, lang)) or clients.setdefault((user, lang), sign_in(app, user, lang))
            answer = client.get(path, headers={"Accept": "text/html"})
            assert answer.status_code == status, (user, path, lang)
            page = answer.get_data(as_text=True)
            assert f'<html lang="{"zh-CN" if lang == "zh" else "en"}"' in page, (user, path)
            if lang == "zh":
                found = english_left(shown_text(page), phrases)
                if found:
                    left[path] = found
    assert left == {}
    assert app.extensions["approvals_untranslated"] == set()


def test_a_form_refused_in_chinese_names_its_fields_in_chinese(demo_app):
    app, database = demo_app
    with database.session() as session:
        decide = session.query(Task).filter_by(bpmn_id="decide", state=TaskState.OPEN).first()
        if decide is None:
            decide = session.query(Task).filter(Task.state == TaskState.OPEN, Task.agency_code == "DRC").first()
        task_id = decide.id
    client = sign_in(app, "drc_staff", "zh")
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    client.post(f"/tasks/{task_id}/claim", data={"csrf_token": csrf_of(page)})
    page = client.get(f"/tasks/{task_id}").get_data(as_text=True)
    refused = client.post(f"/tasks/{task_id}/complete", data={"csrf_token": csrf_of(page)})
    assert refused.status_code == 422
    text = shown_text(refused.get_data(as_text=True))
    assert "此项为必填项" in text and "this field is required" not in text
    english = sign_in(app, "drc_staff", "en")
    page = english.get(f"/tasks/{task_id}").get_data(as_text=True)
    refused = english.post(f"/tasks/{task_id}/complete", data={"csrf_token": csrf_of(page)})
    assert "this field is required" in refused.get_data(as_text=True)


def test_the_language_chosen_before_signing_in_stays_after_it(demo_app):
    app, _ = demo_app
    client = sign_in(app, "drc_staff", "en")
    page = client.get("/tasks").get_data(as_text=True)
    assert '<html lang="en"' in page and "My steps" in page
    chinese = sign_in(app, "drc_staff", "zh")
    assert "我的待办" in chinese.get("/tasks").get_data(as_text=True)


def test_a_server_error_and_a_conflict_are_pages_in_both_languages_with_a_way_back(demo_app, monkeypatch):
    app, database = demo_app
    # A conflict: claiming a step someone else holds.
    with database.session() as session:
        held = session.query(Task).filter_by(state=TaskState.OPEN, agency_code="TRADING").first().id
    trading = sign_in(app, "trading_staff", "zh")
    page = trading.get(f"/tasks/{held}").get_data(as_text=True)
    assert trading.post(f"/tasks/{held}/claim", data={"csrf_token": csrf_of(page)}).status_code == 303
    lead = sign_in(app, "trading_lead", "zh")
    page = lead.get(f"/tasks/{held}").get_data(as_text=True)
    taken = lead.post(
        f"/tasks/{held}/claim",
        data={"csrf_token": csrf_of(page)},
        headers={"Accept": "text/html", "Referer": f"http://localhost/tasks/{held}"},
    )
    assert taken.status_code == 409
    text = shown_text(taken.get_data(as_text=True))
    assert "已被他人或系统先行更改" in text and "已被 trading_staff 认领" in text and "返回" in text
    # A fault of ours: the page says so, in the reader's language, and offers the way back.
    app.testing, app.config["PROPAGATE_EXCEPTIONS"] = False, False
    try:
        monkeypatch.setattr("approvals.services.status.project_summaries", lambda *a: 1 / 0)
        for lang, said in (("zh", "系统出现错误"), ("en", "Something went wrong on our side")):
            answer = sign_in(app, "observer", lang).get("/projects", headers={"Accept": "text/html"})
            assert answer.status_code == 500 and said in answer.get_data(as_text=True)
            assert 'href="/"' in answer.get_data(as_text=True)
    finally:
        app.testing, app.config["PROPAGATE_EXCEPTIONS"] = True, None


def test_a_request_too_large_is_a_page_in_the_readers_language(demo_app):
    app, _ = demo_app
    for lang, said in (("zh", "内容过大"), ("en", "Too large")):
        client = sign_in(app, "drc_staff", lang)
        page = client.get("/away").get_data(as_text=True)
        big = client.post(
            "/away",
            data={"csrf_token": csrf_of(page), "substitute": "x" * (app.config["MAX_CONTENT_LENGTH"] + 1)},
            headers={"Accept": "text/html"},
        )
        assert big.status_code == 413 and said in big.get_data(as_text=True)
