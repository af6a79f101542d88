"""The live handoff inbox (/admin/handoffs): the queue of citizens waiting for an officer, take one,
read the transcript, reply through the citizen's channel, give the conversation back to the bot.

Who sees what: conversations have no agency, so every officer sees the whole queue and may take any
waiting conversation; only the officer who took a conversation replies in it. Supervisors and admins
also see (read-only) the conversations other officers hold and can return any of them to the bot.
The queue and the open transcript refresh themselves (small HTML fragments polled by plain JS).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Annotated, Any

import httpx
from fastapi import Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from backoffice import audit
from backoffice.auth import ADMIN, OFFICER, SUPERVISOR, Forbidden, StaffUser, require_role
from backoffice.handoff_inbox import (
    CHANNEL_LABELS,
    STATUS_LABELS,
    TranscriptLine,
    active,
    last_officer,
    transcript,
    waiting,
)
from backoffice.state import BackofficeState, client_address, db, get_state
from backoffice.web import BadRequest, PageNotFound, redirect, render, staff_router
from connectors.base import OutgoingMessage
from connectors.outbox import enqueue
from connectors.rasa_client import RasaClient, RasaUnavailable
from core.handoff import Conversation, ConversationStatus, HandoffService, handoff_service_from_settings
from knowledge_base.text import nfc

log = logging.getLogger(__name__)

MAX_REPLY_CHARS = 4000
POLL_SECONDS = 5

TAKEN_TEXT = "Cán bộ đã tiếp nhận cuộc trò chuyện và sẽ trả lời anh/chị tại đây."
RETURNED_TEXT = (
    "Cán bộ đã kết thúc hỗ trợ. Trợ lý ảo tiếp tục trả lời anh/chị; nếu cần gặp cán bộ, anh/chị nhắn “gặp cán bộ”."
)

NOTICES = {
    "taken": "Anh/chị đã nhận hội thoại này.",
    "sent": "Đã gửi trả lời cho người dân.",
    "returned": "Đã trả hội thoại cho trợ lý ảo.",
    "resumed": "Trợ lý ảo đã tiếp tục hội thoại.",
}
ERRORS = {
    "gone": "Hội thoại này không còn trong hàng chờ (đã có cán bộ khác nhận hoặc người dân đã rời đi).",
    "rasa": (
        "Đã trả hội thoại cho trợ lý ảo nhưng chưa báo được cho máy chủ trợ lý ảo (không phản hồi). "
        "Vui lòng bấm “Báo lại cho trợ lý ảo” sau ít phút."
    ),
}

ALL = (OFFICER, SUPERVISOR, ADMIN)
router = staff_router(tags=["back office: handoff"])


def _service(state: BackofficeState) -> HandoffService:
    return handoff_service_from_settings(state.settings, state.engine, clock=state.clock)


def _oversees(user: StaffUser) -> bool:
    return user.role in (SUPERVISOR, ADMIN)


def _conversation(state: BackofficeState, conversation_id: int) -> Conversation:
    conversation = _service(state).get(conversation_id)
    if conversation is None:
        raise PageNotFound("Không tìm thấy hội thoại này.")
    return conversation


def _may_view(state: BackofficeState, user: StaffUser, conversation: Conversation) -> bool:
    """Supervisors and admins: any. Officers: the queue, their own, and the last one they handled."""
    if _oversees(user) or conversation.status == ConversationStatus.WAITING.value:
        return True
    if conversation.status == ConversationStatus.WITH_OFFICER.value:
        return conversation.assigned_officer == user.username
    return last_officer(state.engine, conversation.id) == user.username


def viewable_conversation(state: BackofficeState, user: StaffUser, conversation_id: int) -> Conversation:
    conversation = _conversation(state, conversation_id)
    if not _may_view(state, user, conversation):
        raise Forbidden("Hội thoại này đang do cán bộ khác phụ trách.")
    return conversation


def _viewable_transcript(
    request: Request, user: StaffUser, conversation_id: int
) -> tuple[Conversation, list[TranscriptLine]]:
    """The conversation ``user`` may look at, with its transcript (else 404 / 403)."""
    state = get_state(request)
    conversation = viewable_conversation(state, user, conversation_id)
    return conversation, transcript(state.engine, conversation.channel, conversation.sender_id)


def _notice(request: Request) -> str:
    return NOTICES.get(request.query_params.get("notice", ""), "")


def _error(request: Request) -> str:
    return ERRORS.get(request.query_params.get("error", ""), "")


@router.get("/handoff", include_in_schema=False)
def handoff_alias(user: Annotated[StaffUser, Depends(require_role(*ALL))]) -> RedirectResponse:
    return redirect("/admin/handoffs")


@router.get("/handoffs", response_class=HTMLResponse)
def inbox(request: Request, user: Annotated[StaffUser, Depends(require_role(*ALL))]) -> Response:
    state = get_state(request)
    mine = active(state.engine, officer=user.username)
    others = [item for item in active(state.engine) if item.officer != user.username] if _oversees(user) else []
    return render(
        request,
        "handoff_list.html",
        title="Hội thoại chờ cán bộ",
        queue=waiting(_service(state), state.engine, state.clock()),
        mine=mine,
        others=others,
        oversees=_oversees(user),
        poll_seconds=POLL_SECONDS,
        notice=_notice(request),
        error=_error(request),
    )


@router.get("/handoffs/waiting", response_class=HTMLResponse)
def waiting_fragment(request: Request, user: Annotated[StaffUser, Depends(require_role(*ALL))]) -> Response:
    """The queue table alone (polled by the inbox page); ``X-Waiting-Count`` carries its length."""
    state = get_state(request)
    queue = waiting(_service(state), state.engine, state.clock())
    response = render(request, "handoff_waiting.html", queue=queue)
    response.headers["X-Waiting-Count"] = str(len(queue))
    response.headers["Cache-Control"] = "no-store"
    return response


@router.get("/handoffs/{conversation_id}", response_class=HTMLResponse)
def conversation_page(
    request: Request, conversation_id: int, user: Annotated[StaffUser, Depends(require_role(*ALL))]
) -> Response:
    conversation, lines = _viewable_transcript(request, user, conversation_id)
    return render(
        request,
        "handoff_detail.html",
        title="Hội thoại",
        conversation=conversation,
        channel_labels=CHANNEL_LABELS,
        status_labels=STATUS_LABELS,
        lines=lines,
        can_take=conversation.status == ConversationStatus.WAITING.value,
        can_reply=conversation.status == ConversationStatus.WITH_OFFICER.value
        and conversation.assigned_officer == user.username,
        can_return=conversation.status == ConversationStatus.WITH_OFFICER.value
        and (conversation.assigned_officer == user.username or _oversees(user)),
        can_resume=conversation.status == ConversationStatus.BOT.value,
        poll_seconds=POLL_SECONDS,
        max_reply=MAX_REPLY_CHARS,
        notice=_notice(request),
        error=_error(request),
    )


@router.get("/handoffs/{conversation_id}/messages", response_class=HTMLResponse)
def transcript_fragment(
    request: Request, conversation_id: int, user: Annotated[StaffUser, Depends(require_role(*ALL))]
) -> Response:
    conversation, lines = _viewable_transcript(request, user, conversation_id)
    response = render(request, "handoff_transcript.html", conversation=conversation, lines=lines)
    response.headers["Cache-Control"] = "no-store"
    return response


def _wake_gateway(request: Request) -> None:
    """Deliver the queued message now rather than at the dispatcher's next poll (call from the event loop)."""
    gateway = getattr(request.app.state, "gateway", None)
    if gateway is not None:
        gateway.wake_dispatcher()


@dataclass(frozen=True)
class StaffAction:
    """What every POST of the inbox needs: the state, who acts (any staff role), their SQL session and address."""

    state: BackofficeState
    user: StaffUser
    session: Session
    client: str

    def audit(self, action: str, conversation_id: int, detail: dict[str, Any]) -> None:
        """Record ``action`` in the audit log and commit (with whatever else the session holds)."""
        audit.record(self.session, self.user, action, "conversation", conversation_id, detail, self.client)
        self.session.commit()


def _staff_action(
    request: Request,
    user: Annotated[StaffUser, Depends(require_role(*ALL))],
    session: Annotated[Session, Depends(db)],
) -> StaffAction:
    return StaffAction(get_state(request), user, session, client_address(request))


Act = Annotated[StaffAction, Depends(_staff_action)]


def _held(act: StaffAction, conversation_id: int, *, overseers_too: bool, refusal: str) -> Conversation | None:
    """The conversation if an officer holds it (else None), provided ``act.user`` is that officer, or
    (``overseers_too``) a supervisor or admin; anyone else gets ``Forbidden(refusal)``."""
    conversation = _conversation(act.state, conversation_id)
    if conversation.status != ConversationStatus.WITH_OFFICER.value:
        return None
    if conversation.assigned_officer != act.user.username and not (overseers_too and _oversees(act.user)):
        raise Forbidden(refusal)
    return conversation


@router.post("/handoffs/{conversation_id}/take")
async def take(request: Request, conversation_id: int, act: Act) -> Response:
    def work() -> bool:
        conversation = _conversation(act.state, conversation_id)
        if not _service(act.state).take(conversation_id, act.user.username):
            return False
        enqueue(act.session, OutgoingMessage(conversation.channel, conversation.sender_id, TAKEN_TEXT, author="system"))
        act.audit("handoff.take", conversation_id, {"channel": conversation.channel})
        return True

    if not await run_in_threadpool(work):
        return redirect("/admin/handoffs", error="gone")
    _wake_gateway(request)
    return redirect(f"/admin/handoffs/{conversation_id}", notice="taken")


@router.post("/handoffs/{conversation_id}/reply")
async def reply(request: Request, conversation_id: int, act: Act, text: Annotated[str, Form()] = "") -> Response:
    def work() -> None:
        refusal = "Chỉ cán bộ đang phụ trách hội thoại này mới trả lời được; hãy nhận hội thoại trước."
        conversation = _held(act, conversation_id, overseers_too=False, refusal=refusal)
        if conversation is None:
            raise Forbidden(refusal)
        message = nfc(text).strip()
        if not message:
            raise BadRequest("Nội dung trả lời đang để trống.")
        if len(message) > MAX_REPLY_CHARS:
            raise BadRequest(f"Nội dung trả lời dài quá {MAX_REPLY_CHARS} ký tự; vui lòng chia thành nhiều tin.")
        author = f"officer:{act.user.username}"
        outbox_id = enqueue(
            act.session, OutgoingMessage(conversation.channel, conversation.sender_id, message, author=author)
        )
        act.audit(
            "handoff.reply",
            conversation_id,
            {"channel": conversation.channel, "outbox_id": outbox_id, "chars": len(message)},
        )

    await run_in_threadpool(work)
    _wake_gateway(request)
    return redirect(f"/admin/handoffs/{conversation_id}", notice="sent")


async def _resume(state: BackofficeState, conversation: Conversation) -> bool:
    """Tell Rasa the bot answers this citizen again; False when Rasa could not be reached."""
    client = RasaClient(state.settings.rasa_url, timeout=10.0)
    try:
        await client.resume(f"{conversation.channel}:{conversation.sender_id}")
        return True
    except (RasaUnavailable, httpx.HTTPError) as exc:  # down, or refused: the officer retries later
        log.warning("could not resume conversation %s in Rasa: %s", conversation.id, type(exc).__name__)
        return False
    finally:
        await client.aclose()


@router.post("/handoffs/{conversation_id}/return")
async def return_to_bot(request: Request, conversation_id: int, act: Act) -> Response:
    def release() -> Conversation | None:
        refusal = "Hội thoại này đang do cán bộ khác phụ trách."
        conversation = _held(act, conversation_id, overseers_too=True, refusal=refusal)
        if conversation is not None:
            _service(act.state).return_to_bot(conversation_id)
        return conversation

    conversation = await run_in_threadpool(release)
    if conversation is None:
        return redirect(f"/admin/handoffs/{conversation_id}", error="gone")
    resumed = await _resume(act.state, conversation)

    def record() -> None:
        enqueue(
            act.session, OutgoingMessage(conversation.channel, conversation.sender_id, RETURNED_TEXT, author="system")
        )
        detail = {
            "channel": conversation.channel,
            "officer": conversation.assigned_officer or "",
            "rasa_resumed": resumed,
        }
        act.audit("handoff.return", conversation_id, detail)

    await run_in_threadpool(record)
    _wake_gateway(request)
    if not resumed:
        return redirect(f"/admin/handoffs/{conversation_id}", error="rasa")
    return redirect("/admin/handoffs", notice="returned")


@router.post("/handoffs/{conversation_id}/resume")
async def resume_again(conversation_id: int, act: Act) -> Response:
    """Retry telling Rasa after a return it did not hear (the conversation is already the bot's)."""
    conversation = await run_in_threadpool(viewable_conversation, act.state, act.user, conversation_id)
    if conversation.status != ConversationStatus.BOT.value:
        return redirect(f"/admin/handoffs/{conversation_id}", error="gone")
    resumed = await _resume(act.state, conversation)
    await run_in_threadpool(act.audit, "handoff.resume", conversation_id, {"rasa_resumed": resumed})
    return redirect(f"/admin/handoffs/{conversation_id}", **({"notice": "resumed"} if resumed else {"error": "rasa"}))
