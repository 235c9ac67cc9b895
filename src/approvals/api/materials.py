from __future__ import annotations

from flask_smorest import Blueprint

from ..db import get_session
from ..http_edge import send_material
from ..services import materials, tasks
from ..services.material_types import ALLOWED
from .auth import SECURITY, authenticated, current_user
from .schemas import MaterialSchema

blp = Blueprint("materials", __name__, url_prefix="/api", description="Materials (材料) and issued documents")


@blp.get("/instances/<int:instance_id>/materials")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema(many=True))
@authenticated
def instance_materials(instance_id: int):
    """The files attached to an instance's steps, oldest first (for agencies with a step in it)."""
    return materials.instance_materials(get_session(), instance_id, current_user())


@blp.get("/projects/<code>/materials")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema(many=True))
@authenticated
def project_materials(code: str):
    """The files of every process of a project that you may read."""
    return materials.project_materials(get_session(), code, current_user())


@blp.get("/materials/<int:material_id>")
@blp.doc(
    security=SECURITY,
    responses={
        "200": {
            "description": "the file's bytes, as an attachment",
            "content": {
                kind.content_type: {"schema": {"type": "string", "format": "binary"}} for kind in ALLOWED.values()
            },
        }
    },
)
@authenticated
def download(material_id: int):
    """One file's bytes, for agencies with a step in its process, the coordinator and readers."""
    session = get_session()
    return send_material(session, materials.get_material(session, material_id, current_user()))


@blp.delete("/materials/<int:material_id>")
@blp.doc(security=SECURITY)
@blp.response(200, MaterialSchema)
@authenticated
def withdraw(material_id: int):
    """Withdraw a file attached by mistake while its step is open (the record stays, marked)."""
    return tasks.withdraw_material(get_session(), material_id, current_user())
