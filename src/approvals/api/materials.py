from __future__ import annotations

from flask import send_file
from flask_smorest import Blueprint

from ..db import get_session
from ..services import materials, tasks
from ..services.material_types import ALLOWED
from .auth import SECURITY, authenticated, current_user
from .present import material_doc
from .schemas import MaterialSchema

blp = Blueprint("materials", __name__, url_prefix="/api", description="Materials (材料) and issued documents")


@blp.get("/instances/<int:instance_id>/materials")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema(many=True))
@authenticated
def instance_materials(instance_id: int):
    """The files attached to an instance's steps, oldest first (for agencies with a step in it)."""
    return [material_doc(m) for m in materials.instance_materials(get_session(), instance_id, current_user())]


@blp.get("/projects/<code>/materials")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema(many=True))
@authenticated
def project_materials(code: str):
    """The files of every process of a project that you may read."""
    return [material_doc(m) for m in materials.project_materials(get_session(), code, current_user())]


@blp.get("/materials/<int:material_id>")
@blp.doc(security=SECURITY, responses={"200": {"description": "the file's bytes, as an attachment", "content": {
    kind.content_type: {"schema": {"type": "string", "format": "binary"}} for kind in ALLOWED.values()}}})
@authenticated
def download(material_id: int):
    """One file's bytes, for agencies with a step in its process, the coordinator and readers."""
    session = get_session()
    return send_material(session, materials.get_material(session, material_id, current_user()))


def send_material(session, material):
    """A material's bytes as a download (also for the pages): never rendered in our origin."""
    response = send_file(materials.store_of(session).path_of(material.sha256), mimetype=material.content_type,
                         as_attachment=True, download_name=material.name, etag=material.sha256, max_age=0)
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Content-Security-Policy"] = "sandbox"
    return response


@blp.delete("/materials/<int:material_id>")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema)
@authenticated
def withdraw(material_id: int):
    """Withdraw a file attached by mistake while its step is open (the record stays, marked)."""
    return material_doc(tasks.withdraw_material(get_session(), material_id, current_user()))
