"""HTTP routes of the catalogue: search and full records."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request

from knowledge_base.catalogue import Catalogue
from knowledge_base.search import EmptyQueryError

router = APIRouter(prefix="/api/procedures", tags=["procedures"])


def _catalogue(request: Request) -> Catalogue:
    catalogue: Catalogue = request.app.state.catalogue
    return catalogue


@router.get("/search")
def search_procedures(
    request: Request,
    q: Annotated[str, Query(max_length=10_000, description="Câu hỏi hoặc tên thủ tục")] = "",
    top: Annotated[int, Query(ge=1, le=50)] = 5,
) -> dict[str, Any]:
    catalogue = _catalogue(request)
    try:
        hits = catalogue.search(q, top)
    except EmptyQueryError:
        raise HTTPException(
            status_code=422, detail="Vui lòng nhập tên hoặc mô tả thủ tục cần tìm (q không được trống)."
        ) from None
    searcher = catalogue.searcher
    return {
        "query": q,
        "found": bool(hits) and searcher.is_confident(hits[0]),
        "threshold": searcher.not_found_threshold,
        "results": [h.to_dict() for h in hits],
    }


@router.get("/{code}")
def get_procedure(request: Request, code: str) -> dict[str, Any]:
    procedure = _catalogue(request).get(code.strip())
    if procedure is None:
        raise HTTPException(status_code=404, detail=f"Không tìm thấy thủ tục có mã {code!s:.40}.")
    return procedure.model_dump(mode="json")
