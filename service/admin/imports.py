"""Importing invitees from CSV or XLSX: the upload (refused above MAX_UPLOAD_MB by the 413 page,
`errors.py`), then the job's page, where a worker's check and import show their progress and
then their result: the counts, or every problem (each once, with its lines) and nothing imported."""

from __future__ import annotations

from flask import abort, redirect, render_template, request, url_for
from flask_babel import lazy_gettext as _l
from flask_login import current_user
from flask_wtf import FlaskForm
from flask_wtf.file import FileAllowed, FileField, FileRequired

from ..db import write_transaction
from ..extensions import db
from ..invitee_import import dispatch_import, job_result, start_import
from ..models import ImportJob, ImportState
from . import bp
from .invitees import event_or_404


class ImportForm(FlaskForm):
    file = FileField(_l("File"), validators=[
        FileRequired(_l("Choose a file.")),
        FileAllowed(["csv", "txt", "xlsx"], _l("Choose a CSV or XLSX file.")),
    ])


@bp.route("/import", methods=["GET", "POST"])
def import_page():
    """Upload a CSV or XLSX file; a worker checks and imports it, and its page shows how far it has come."""
    event = event_or_404()
    form = ImportForm()
    if form.validate_on_submit():
        upload = form.file.data
        with write_transaction():
            job = start_import(event, upload.filename or "invitees.csv", upload.read(), current_user.username)
        dispatch_import(job.id)
        return redirect(url_for("admin.import_job", job_id=job.id))
    return render_template("admin/import.html", event=event, form=form), 400 if request.method == "POST" else 200


def _job_or_404(job_id: int) -> ImportJob:
    job = db.session.get(ImportJob, job_id)
    if job is None or job.event_id != event_or_404().id:
        abort(404)
    return job


@bp.get("/import/<int:job_id>")
def import_job(job_id: int):
    """An import's progress while a worker checks and stores the file, then its result."""
    job = _job_or_404(job_id)
    return render_template("admin/import_job.html", event=job.event, job=job, result=job_result(job),
                           states=ImportState)


@bp.get("/import/<int:job_id>/status")
def import_job_status(job_id: int):
    """The job's progress or result alone, for its page to refresh itself."""
    job = _job_or_404(job_id)
    return render_template("admin/_import_job.html", job=job, result=job_result(job), states=ImportState)
