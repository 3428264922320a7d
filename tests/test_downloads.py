"""Download names (webui.downloads): the Content-Disposition of transcripts, media and the Bazarr
answer, for names that are not plain ASCII, are only dots, or hold quotes and control characters.
Headers are read back by the standard library's MIME parser (RFC 2231/8187 ``filename*`` included);
``curl -OJ`` against the real server: tests/test_downloads_live.py."""

from __future__ import annotations

import email.message
import io
from datetime import datetime

import pytest
from conftest import DATA
from test_websafety import multipart
from werkzeug.http import parse_options_header

from webui.compat import create_app as create_compat_app
from webui.downloads import content_disposition, download_names

ID = "01JOBID"


def saved_names(disposition: str) -> tuple[str, str]:
    """``(name a browser saves, name curl -OJ saves)``: ``filename*`` when present, else
    ``filename``, as Werkzeug's parser decodes it (RFC 8187); and ``filename`` alone, as the standard
    library's MIME parser reads it."""
    kind, options = parse_options_header(disposition)
    message = email.message.Message()
    message["Content-Disposition"] = disposition
    plain = message.get_param("filename", header="content-disposition")
    assert kind == "attachment" and isinstance(plain, str), disposition
    return options["filename"], plain


def check_plain(name: str) -> None:
    """A name ``curl -OJ`` saves as it stands: printable ASCII, no quote, backslash, slash or percent,
    never empty and never a dot name."""
    assert name and name.isascii() and name.isprintable() and not name.startswith("."), name
    assert not set(name) & set('"\\/%'), name


@pytest.mark.parametrize(("name", "browser", "curl"), [
    ("talk.srt", "talk.srt", "talk.srt"),
    ("会议.srt", "会议.srt", f"{ID}.srt"),
    ("März (1).srt", "März (1).srt", "Marz (1).srt"),
    ("..", ID, ID),
    (".", ID, ID),
    ("...", ID, ID),
    (" .. ", ID, ID),
    (".srt", f"{ID}.srt", f"{ID}.srt"),
    (".hidden.wav", "hidden.wav", "hidden.wav"),
    ('say "hi".wav', 'say "hi".wav', "say _hi_.wav"),
    ("back\\slash.wav", "slash.wav", "slash.wav"),
    ("../../etc/passwd", "passwd", "passwd"),
    ("100%.wav", "100%.wav", "100_.wav"),
    ("a\r\nSet-Cookie: x=1.wav", "a_r_nSet-Cookie: x=1.wav", "a_r_nSet-Cookie_ x=1.wav"),
    ("\u202egnp.wav", "_u202egnp.wav", "_u202egnp.wav"),
    ("日本.音声", "日本.音声", ID),
    ("x" * 300 + ".wav", "x" * 200 + ".wav", "x" * 200 + ".wav"),
])
def test_download_names(name, browser, curl):
    assert download_names(name, ID) == (browser, curl)
    disposition = content_disposition(name, ID)
    assert saved_names(disposition) == (browser, curl)
    check_plain(curl)
    assert ("filename*=" in disposition) == (browser != curl)
    assert disposition.isascii() and disposition.isprintable()


def test_the_header_of_a_unicode_name_is_exact():
    assert content_disposition("会议.srt", ID) == \
        f"attachment; filename=\"{ID}.srt\"; filename*=UTF-8''%E4%BC%9A%E8%AE%AE.srt"
    assert content_disposition("talk.srt", ID) == 'attachment; filename="talk.srt"'


NAMES = ("会议.wav", "..", "...", 'say "hi".wav')


def test_transcripts_and_media_download_under_usable_names(app, client, perform):
    jobs = {}
    for name in NAMES:
        body, content_type = multipart(name, (DATA / "jfk.flac").read_bytes())
        created = client.post("/api/jobs", data=body, content_type=content_type)
        assert created.status_code == 201 and created.json["file_name"] == name, created.json
        jobs[name] = created.json["id"]
        assert perform(jobs[name]) == "succeeded"
    expected = {"会议.wav": ("会议", "{id}"), "..": ("{id}", "{id}"), "...": ("{id}", "{id}"),
                'say "hi".wav': ('say "hi"', "say _hi_")}
    for name, job_id in jobs.items():
        browser_stem, curl_stem = (stem.format(id=job_id) for stem in expected[name])
        srt = client.get(f"/api/jobs/{job_id}/transcript.srt")
        assert srt.status_code == 200
        assert saved_names(srt.headers["Content-Disposition"]) == (f"{browser_stem}.srt", f"{curl_stem}.srt")
        media = client.get(f"/api/jobs/{job_id}/media")
        assert media.status_code == 200
        browser, curl = saved_names(media.headers["Content-Disposition"])
        assert (browser, curl) == download_names(name, job_id)
        check_plain(curl)
        assert curl.startswith(job_id) or curl == "say _hi_.wav"


def test_the_bazarr_answer_is_named_by_the_same_rule(app, perform):
    client = create_compat_app(app.settings).test_client()
    app.store.heartbeat("compat-test", "idle", None, datetime.utcnow())

    def asr(name: str, **headers: str):
        audio = io.BytesIO((DATA / "jfk.flac").read_bytes())
        return client.post("/asr?output=srt", data={"audio_file": (audio, name)}, headers=headers)

    queued = asr("会议.flac", Prefer="respond-async")
    assert queued.status_code == 202
    job_id = queued.json["id"]
    assert perform(job_id) == "succeeded"
    answered = asr("会议.flac")
    assert answered.status_code == 200
    assert saved_names(answered.headers["Content-Disposition"]) == ("会议.srt", f"{job_id}.srt")
