/* Một cửa assistant — website chat widget. No framework; GPL-3.0-or-later.
 * <script src="http://HOST:8000/widget.js" data-title="Hỗ trợ thủ tục hành chính" defer></script>
 * Optional: data-api="https://HOST" (default: where this file comes from), data-open="1" (start open).
 * Size: 10.9 KB as served, 4.3 KB gzipped (gzip -9); no other file is loaded.
 * Talks to POST /api/chat, GET /api/chat/history and the push stream GET /api/chat/stream (SSE).
 */
(function () {
  "use strict";
  var script = document.currentScript;
  if (!script || window.__motcuaWidget) return;
  window.__motcuaWidget = true;
  var api = (script.getAttribute("data-api") || new URL(script.src, location.href).origin).replace(/\/$/, "");
  var title = script.getAttribute("data-title") || "Hỗ trợ thủ tục hành chính";
  var KEY = "motcua-chat-sender", OPEN_KEY = "motcua-chat-open";

  function store(k, v) { try { if (v === undefined) return localStorage.getItem(k); localStorage.setItem(k, v); } catch (e) { return null; } }
  function newId() {
    if (window.crypto && crypto.getRandomValues) {
      var b = new Uint8Array(16); crypto.getRandomValues(b);
      return Array.prototype.map.call(b, function (x) { return ("0" + x.toString(16)).slice(-2); }).join("");
    }
    return (Date.now().toString(36) + Math.random().toString(36).slice(2) + Math.random().toString(36).slice(2)).slice(0, 32);
  }
  var returning = !!store(KEY);
  var sender = store(KEY);
  if (!sender || !/^[A-Za-z0-9_-]{8,64}$/.test(sender)) { sender = "w" + newId(); store(KEY, sender); }

  function main() {
  var css =
    ":host{all:initial}*{box-sizing:border-box;font-family:system-ui,-apple-system,'Segoe UI',Roboto,Arial,sans-serif}" +
    ".bubble{position:fixed;right:20px;bottom:20px;width:60px;height:60px;border-radius:50%;border:0;background:#b71c1c;color:#fff;cursor:pointer;box-shadow:0 4px 14px rgba(0,0,0,.3);z-index:2147483000;display:flex;align-items:center;justify-content:center}" +
    ".bubble:focus-visible,button:focus-visible,textarea:focus-visible{outline:3px solid #ffb300;outline-offset:2px}" +
    ".panel{position:fixed;right:20px;bottom:92px;width:370px;max-width:calc(100vw - 24px);height:560px;max-height:calc(100vh - 110px);background:#fff;color:#1a1a1a;border-radius:12px;box-shadow:0 8px 30px rgba(0,0,0,.3);display:flex;flex-direction:column;overflow:hidden;z-index:2147483001}" +
    ".panel[hidden]{display:none}" +
    "header{background:#b71c1c;color:#fff;padding:12px 14px;display:flex;align-items:center;gap:8px}" +
    "header h2{font-size:16px;margin:0;flex:1;font-weight:600}" +
    ".close{background:transparent;border:0;color:#fff;font-size:22px;cursor:pointer;min-width:44px;min-height:44px}" +
    ".log{flex:1;overflow-y:auto;padding:12px;background:#f6f6f6;display:flex;flex-direction:column;gap:8px}" +
    ".msg{max-width:85%;padding:8px 11px;border-radius:12px;white-space:pre-wrap;word-wrap:break-word;font-size:15px;line-height:1.4}" +
    ".in{align-self:flex-end;background:#b71c1c;color:#fff;border-bottom-right-radius:3px}" +
    ".out{align-self:flex-start;background:#fff;border:1px solid #ddd;border-bottom-left-radius:3px}" +
    ".officer{border-color:#1565c0;background:#e3f2fd}" +
    ".note{align-self:center;background:transparent;color:#555;font-size:13px;text-align:center}" +
    ".who{display:block;font-size:12px;font-weight:600;color:#1565c0;margin-bottom:2px}" +
    ".btns{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px}" +
    ".btns button{border:1px solid #b71c1c;color:#b71c1c;background:#fff;border-radius:16px;padding:6px 12px;font-size:14px;cursor:pointer;min-height:36px}" +
    ".btns button:hover{background:#fdecea}" +
    ".typing{align-self:flex-start;color:#555;font-size:13px;padding:4px 8px}.typing[hidden]{display:none}" +
    "form{display:flex;gap:6px;padding:8px;border-top:1px solid #ddd;background:#fff}" +
    "textarea{flex:1;resize:none;border:1px solid #bbb;border-radius:8px;padding:8px;font-size:15px;height:44px;max-height:120px}" +
    ".send{background:#b71c1c;color:#fff;border:0;border-radius:8px;padding:0 14px;font-size:15px;cursor:pointer;min-height:44px}" +
    ".sr{position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0)}" +
    "@media (max-width:480px){.panel{right:0;bottom:0;width:100vw;max-width:100vw;height:100%;max-height:100%;border-radius:0}}";

  var host = document.createElement("div");
  host.id = "motcua-chat";
  var root = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
  root.innerHTML =
    "<style>" + css + "</style>" +
    '<button class="bubble" type="button" aria-haspopup="dialog" aria-expanded="false" aria-label="Mở khung trò chuyện hỗ trợ">' +
    '<svg width="28" height="28" viewBox="0 0 24 24" aria-hidden="true" fill="currentColor"><path d="M4 4h16a2 2 0 0 1 2 2v10a2 2 0 0 1-2 2H8l-4 4V6a2 2 0 0 1 2-2z"/></svg></button>' +
    '<section class="panel" role="dialog" aria-modal="false" hidden>' +
    '<header><h2></h2><button class="close" type="button" aria-label="Đóng khung trò chuyện">×</button></header>' +
    '<div class="log" role="log" aria-live="polite" aria-relevant="additions" aria-label="Nội dung trò chuyện" tabindex="0"></div>' +
    '<div class="typing" aria-live="polite" hidden>Trợ lý đang trả lời…</div>' +
    '<form><label class="sr" for="mc-input">Nhập câu hỏi</label>' +
    '<textarea id="mc-input" maxlength="2000" rows="1" placeholder="Nhập câu hỏi của anh/chị…" autocomplete="off"></textarea>' +
    '<button class="send" type="submit">Gửi</button></form></section>';
  document.body.appendChild(host);

  function $(s) { return root.querySelector(s); }
  var bubble = $(".bubble"), panel = $(".panel"), log = $(".log"), typing = $(".typing"), form = $("form"), input = $("textarea");
  $("h2").textContent = title;
  panel.setAttribute("aria-label", title);
  var seen = {}, started = false, cursor = 0, source = null;

  function scroll() { log.scrollTop = log.scrollHeight; }
  function note(text) {
    var el = document.createElement("div"); el.className = "msg note"; el.textContent = text; log.appendChild(el); scroll();
  }
  function render(m, direction) {
    if (m.id && seen[m.id]) return;
    if (m.id) seen[m.id] = true;
    if (m.id && m.id.charAt(0) === "o") cursor = Math.max(cursor, parseInt(m.id.slice(1), 10) || 0);
    var el = document.createElement("div");
    var officer = m.author === "officer";
    el.className = "msg " + (direction === "in" ? "in" : "out") + (officer ? " officer" : "");
    if (direction !== "in" && (officer || m.author === "system")) {
      var who = document.createElement("span"); who.className = "who";
      who.textContent = officer ? "Cán bộ" : "Thông báo"; el.appendChild(who);
    }
    el.appendChild(document.createTextNode(m.text || ""));
    if (m.buttons && m.buttons.length) {
      var group = document.createElement("div"); group.className = "btns"; group.setAttribute("role", "group");
      m.buttons.forEach(function (b) {
        var btn = document.createElement("button"); btn.type = "button"; btn.textContent = b.title;
        btn.addEventListener("click", function () { send(b.title, b.payload); });
        group.appendChild(btn);
      });
      el.appendChild(group);
    }
    log.appendChild(el); scroll();
  }

  function request(method, path, body) {
    return fetch(api + path, {
      method: method, headers: body ? { "Content-Type": "application/json" } : {}, body: body ? JSON.stringify(body) : undefined
    }).then(function (r) {
      return r.json().catch(function () { return {}; }).then(function (data) {
        if (!r.ok) { var e = new Error(data.detail || "HTTP " + r.status); e.detail = data.detail; throw e; }
        return data;
      });
    });
  }

  function connect() {
    if (!window.EventSource) return;
    if (source) source.close();
    source = new EventSource(api + "/api/chat/stream?sender=" + encodeURIComponent(sender) + "&after=" + cursor);
    source.addEventListener("message", function (ev) {
      try { typing.hidden = true; render(JSON.parse(ev.data), "out"); } catch (e) { /* ignore a bad event */ }
    });
  }

  function start() {
    if (started) return;
    started = true;
    request("GET", "/api/chat/history?sender=" + encodeURIComponent(sender)).then(function (data) {
      (data.messages || []).forEach(function (m) { render(m, m.direction); });
      cursor = Math.max(cursor, data.cursor || 0);
      if (!(data.messages || []).length) note("Xin chào! Anh/chị cần hỏi về thủ tục hành chính nào? Ví dụ: “làm căn cước cần giấy tờ gì”.");
    }).catch(function () { note("Chưa tải được lịch sử trò chuyện."); }).then(connect);
  }

  var busy = false;
  function send(text, payload) {
    text = (text || "").trim();
    if (!text || busy) return;
    if (text.length > 2000) { note("Tin nhắn dài quá 2.000 ký tự, anh/chị vui lòng rút gọn."); return; }
    busy = true;
    render({ text: text, author: "citizen" }, "in");
    typing.hidden = false;
    var body = { sender: sender, message_id: "m" + newId() };
    if (payload) { body.payload = payload; body.title = text; } else { body.text = text; }
    request("POST", "/api/chat", body).then(function (data) {
      (data.messages || []).forEach(function (m) { render(m, "out"); });
      if (data.queued) note(data.notice || "Tin nhắn đã được ghi nhận.");
    }).catch(function (e) {
      note(e.detail || "Không gửi được tin nhắn. Anh/chị vui lòng kiểm tra kết nối và thử lại.");
    }).then(function () { busy = false; typing.hidden = true; input.focus(); });
  }

  function setOpen(open) {
    panel.hidden = !open;
    bubble.setAttribute("aria-expanded", open ? "true" : "false");
    bubble.setAttribute("aria-label", open ? "Thu nhỏ khung trò chuyện" : "Mở khung trò chuyện hỗ trợ");
    store(OPEN_KEY, open ? "1" : "0");
    if (open) { start(); input.focus(); } else { bubble.focus(); }
  }

  bubble.addEventListener("click", function () { setOpen(panel.hidden); });
  $(".close").addEventListener("click", function () { setOpen(false); });
  panel.addEventListener("keydown", function (e) { if (e.key === "Escape") setOpen(false); });
  form.addEventListener("submit", function (e) { e.preventDefault(); if (busy) return; var t = input.value; input.value = ""; send(t); });
  input.addEventListener("keydown", function (e) {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) { e.preventDefault(); form.requestSubmit ? form.requestSubmit() : form.dispatchEvent(new Event("submit")); }
  });
  if (returning) start();
  if (store(OPEN_KEY) === "1" || script.getAttribute("data-open") === "1") setOpen(true);
  }
  if (document.body) main(); else document.addEventListener("DOMContentLoaded", main);
})();
