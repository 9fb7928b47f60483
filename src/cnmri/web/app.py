"""The FastAPI application of ``cnmri serve`` (CONTRACTS.md §7): pages, JSON API, static files.

``create_app(results_dir, token)`` builds the app; ``cnmri.commands.serve`` runs it with uvicorn. Pages are
rendered server-side with Jinja2 (autoescape on: folder names, findings and clinical text are untrusted);
the viewer is NiiVue, vendored under ``static/vendor`` (see scripts/vendor_web.sh); the only inline content
is none: every script is a file served from here, so the Content-Security-Policy can forbid all else.
"""

from __future__ import annotations

import math
from importlib import resources
from pathlib import Path
from typing import Annotated, Any

from fastapi import FastAPI, HTTPException, Query, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader, select_autoescape

from cnmri import __version__
from cnmri.errors import InputError
from cnmri.web.forms import CLINICAL_FORM, case_dict_from_form
from cnmri.web.security import CSRF_FIELD, CSRF_HEADER, AuthMiddleware, Secrets
from cnmri.web.studies import NERVE_COLOURS, VOLUME_FILES, StudyIndex, StudyRef, abnormal_nerves

PER_PAGE_DEFAULT = 50
#: Order of the follow-up table: what changed first.
CHANGE_ORDER = {"new": 0, "progressed": 1, "resolved": 2, "improved": 3, "not_compared": 4, "stable": 5}
PER_PAGE_MAX = 200
#: report.html is self-contained with inline styles and base64 images and no scripts; it gets its own CSP.
REPORT_CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; frame-ancestors 'self'"


def _package_dir(name: str) -> Path:
    return Path(str(resources.files("cnmri.web").joinpath(name)))


def _templates() -> Jinja2Templates:
    env = Environment(
        loader=FileSystemLoader(str(_package_dir("templates"))),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["num"] = _format_number
    return Jinja2Templates(env=env)


def _format_number(value: Any, digits: int = 2) -> str:
    if value is None or isinstance(value, bool):
        return "" if value is None else str(value).lower()
    if isinstance(value, int | float):
        return f"{value:.{digits}f}" if math.isfinite(value) else ""
    return str(value)


def create_app(results_dir: Path, token: str) -> FastAPI:
    """The web app over ``results_dir`` (a folder of analysis output folders, or one analysis folder)."""
    index = StudyIndex(Path(results_dir))
    keys = Secrets(token)
    templates = _templates()
    app = FastAPI(
        title="cnmri",
        version=__version__,
        description="Local web app over cnmri analysis folders. Every route but /health needs the access token "
        "(Authorization: Bearer, or the session cookie set by ?token=). Decision support, not a diagnosis.",
        docs_url=None,  # FastAPI's default pages load Swagger/ReDoc from a CDN; /api/docs is served from here
        redoc_url=None,
    )
    app.state.index = index
    app.state.secrets = keys
    app.mount("/static", StaticFiles(directory=str(_package_dir("static"))), name="static")

    def study_or_404(sid: str) -> StudyRef:
        ref = index.get(sid)
        if ref is None:
            raise HTTPException(status_code=404, detail="no study with this id in the results folder")
        return ref

    def page_context(request: Request, **extra: Any) -> dict[str, Any]:
        return {
            "request": request,
            "csrf_token": keys.csrf_token,
            "csrf_field": CSRF_FIELD,
            "version": __version__,
            **extra,
        }

    # -- open ---------------------------------------------------------------------------------------------
    @app.get("/health", tags=["service"], summary="Liveness check (no token needed)")
    def health() -> dict[str, str]:
        return {"status": "ok"}

    # -- pages --------------------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse, include_in_schema=False)
    def study_list(
        request: Request,
        page: int = Query(1, ge=1),
        per_page: int = Query(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX),
    ) -> Response:
        studies, total = index.page(page, per_page)
        pages = max(1, math.ceil(total / per_page))
        return templates.TemplateResponse(
            request,
            "index.html",
            page_context(
                request,
                studies=studies,
                total=total,
                page=page,
                pages=pages,
                per_page=per_page,
                results_name=index.root.name,
            ),
        )

    def render_study(
        request: Request,
        ref: StudyRef,
        clinical: dict[str, Any] | None = None,
        form_values: dict[str, str] | None = None,
        form_error: str | None = None,
        status_code: int = 200,
    ) -> Response:
        try:
            findings = index.findings(ref)
        except InputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None
        segments = index.segments(ref)
        nerves = [n for n in findings.get("nerves", []) if isinstance(n, dict)]
        clinical_html = None
        if clinical is not None:
            from markupsafe import Markup

            from cnmri.assess.clinical import render_clinical_html

            # render_clinical_html escapes every value it inserts (cnmri.assess.clinical.render).
            clinical_html = Markup(render_clinical_html(clinical))
        return templates.TemplateResponse(
            request,
            "study.html",
            page_context(
                request,
                study=index.summary(ref),
                findings=findings,
                segments=segments,
                nerves=nerves,
                volumes=[v for v in index.volumes(ref) if v != "labels"],
                has_labels="labels" in index.volumes(ref),
                has_report=(ref.path / "report.html").is_file(),
                nerve_colours={k: "#{:02x}{:02x}{:02x}".format(*v) for k, v in NERVE_COLOURS.items()},
                form=CLINICAL_FORM,
                form_values=form_values or {},
                form_error=form_error,
                clinical=clinical,
                clinical_html=clinical_html,
                images_nerves=abnormal_nerves(findings),
            ),
            status_code=status_code,
        )

    @app.get("/studies/{sid}", response_class=HTMLResponse, include_in_schema=False)
    def study_page(request: Request, sid: str) -> Response:
        return render_study(request, study_or_404(sid))

    @app.post("/studies/{sid}/clinical", response_class=HTMLResponse, include_in_schema=False)
    async def clinical_form(request: Request, sid: str) -> Response:
        ref = study_or_404(sid)
        form = await request.form()
        if not keys.csrf_ok(str(form.get(CSRF_FIELD, ""))):
            raise HTTPException(status_code=403, detail="missing or wrong CSRF token; reload the page and submit again")
        values = {key: str(value) for key, value in form.items() if key != CSRF_FIELD and isinstance(value, str)}
        try:
            result = _evaluate(index, ref, case_dict_from_form(values))
        except InputError as error:
            return render_study(request, ref, form_values=values, form_error=str(error), status_code=422)
        return render_study(request, ref, clinical=result, form_values=values)

    @app.get("/studies/{sid}/report", include_in_schema=False)
    def report(sid: str) -> Response:
        ref = study_or_404(sid)
        file = ref.path / "report.html"
        if not file.is_file():
            raise HTTPException(status_code=404, detail="this study has no report.html")
        return FileResponse(file, media_type="text/html", headers={"content-security-policy": REPORT_CSP})

    @app.get("/compare", response_class=HTMLResponse, include_in_schema=False)
    def compare_page(request: Request, s: Annotated[list[str] | None, Query()] = None) -> Response:
        if s is None or len(s) != 2:
            raise HTTPException(
                status_code=400, detail="choose exactly two studies to compare (baseline, then follow-up)"
            )
        base, follow = study_or_404(s[0]), study_or_404(s[1])
        result = _compare(index, base, follow)
        return templates.TemplateResponse(
            request,
            "compare.html",
            page_context(
                request,
                base=index.summary(base),
                follow=index.summary(follow),
                result=result,
                rows=sorted(
                    (
                        r
                        for r in result["segments"]
                        if r["category"] != "stable" or r["baseline_abnormal"] or r["followup_abnormal"]
                    ),
                    # What changed first; the findings' own segment order within a category.
                    key=lambda r: CHANGE_ORDER.get(r["category"], len(CHANGE_ORDER)),
                ),
                base_labels="labels" in index.volumes(base),
                follow_labels="labels" in index.volumes(follow),
            ),
        )

    @app.get("/api/docs", response_class=HTMLResponse, include_in_schema=False)
    def api_docs(request: Request) -> Response:
        return templates.TemplateResponse(request, "api.html", page_context(request, openapi=app.openapi()))

    # -- JSON API -----------------------------------------------------------------------------------------
    @app.get("/api/studies", tags=["studies"], summary="Studies of the results folder, one page")
    def api_studies(
        page: int = Query(1, ge=1), per_page: int = Query(PER_PAGE_DEFAULT, ge=1, le=PER_PAGE_MAX)
    ) -> dict[str, Any]:
        studies, total = index.page(page, per_page)
        return {"studies": [s.as_json() for s in studies], "total": total, "page": page, "per_page": per_page}

    @app.get("/api/studies/{sid}", tags=["studies"], summary="One study's summary and its volume URLs")
    def api_study(sid: str) -> dict[str, Any]:
        ref = study_or_404(sid)
        summary = index.summary(ref).as_json()
        summary["volume_urls"] = {
            name: f"/api/studies/{sid}/volumes/{VOLUME_FILES[name]}" for name in index.volumes(ref)
        }
        return summary

    @app.get("/api/studies/{sid}/findings", tags=["studies"], summary="The study's findings.json (CONTRACTS §2)")
    def api_findings(sid: str) -> JSONResponse:
        ref = study_or_404(sid)
        try:
            return JSONResponse(index.findings(ref))
        except InputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None

    @app.get(
        "/api/studies/{sid}/segments", tags=["studies"], summary="Per-segment rows with label value and centre (mm)"
    )
    def api_segments(sid: str) -> list[dict[str, Any]]:
        ref = study_or_404(sid)
        try:
            return index.segments(ref)
        except InputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None

    @app.get("/api/studies/{sid}/colormap", tags=["viewer"], summary="NiiVue label colormap of the segment map")
    def api_colormap(sid: str) -> dict[str, Any]:
        return index.label_colormap(study_or_404(sid))

    @app.get("/api/studies/{sid}/volumes/{file}", tags=["viewer"], summary="A NIfTI volume of the study")
    def api_volume(sid: str, file: str) -> FileResponse:
        ref = study_or_404(sid)
        if file not in VOLUME_FILES.values() or not (ref.path / file).is_file():
            raise HTTPException(
                status_code=404, detail=f"no volume {file!r}; available: {', '.join(index.volumes(ref))}"
            )
        # The browser may keep volumes for the session but must check they did not change (re-analysis).
        return FileResponse(
            ref.path / file, media_type="application/gzip", headers={"cache-control": "private, no-cache"}
        )

    @app.post(
        "/api/studies/{sid}/clinical",
        tags=["clinical"],
        summary="CNS status and differential for a case (CONTRACTS §4) joined to this study's nerve findings",
    )
    async def api_clinical(request: Request, sid: str) -> dict[str, Any]:
        ref = study_or_404(sid)
        if request.scope.get("state", {}).get("auth") == "cookie" and not keys.csrf_ok(
            request.headers.get(CSRF_HEADER)
        ):
            raise HTTPException(status_code=403, detail=f"cookie sessions must send the {CSRF_HEADER} header")
        try:
            payload = await request.json()
        except ValueError:
            raise HTTPException(
                status_code=400, detail="the body must be a JSON clinical case (CONTRACTS §4)"
            ) from None
        try:
            return _evaluate(index, ref, payload)
        except InputError as error:
            raise HTTPException(status_code=422, detail=str(error)) from None

    @app.get("/api/compare", tags=["studies"], summary="Follow-up comparison of two studies (baseline a, follow-up b)")
    def api_compare(a: str, b: str) -> dict[str, Any]:
        return _compare(index, study_or_404(a), study_or_404(b))

    app.add_middleware(AuthMiddleware, secrets_=keys)
    return app


def _evaluate(index: StudyIndex, ref: StudyRef, case_data: Any) -> dict[str, Any]:
    """CNS status and differential, with the imaging nerve findings of this study unless the case sets them."""
    from cnmri.assess.clinical import case_from_dict, evaluate_case

    case = case_from_dict(case_data, source="clinical form")
    nerves = abnormal_nerves(index.findings(ref))
    override = None if case.imaging.nerve_findings is not None else nerves
    return evaluate_case(case, nerve_findings_override=override)


def _compare(index: StudyIndex, base: StudyRef, follow: StudyRef) -> dict[str, Any]:
    from cnmri.report.compare import compare_findings

    try:
        result = compare_findings(index.findings(base), index.findings(follow))
    except InputError as error:
        raise HTTPException(status_code=422, detail=str(error)) from None
    # Ids, not folder paths, identify the studies in the result.
    result["baseline"]["id"], result["followup"]["id"] = base.id, follow.id
    return result


__all__ = ["PER_PAGE_DEFAULT", "PER_PAGE_MAX", "create_app"]
