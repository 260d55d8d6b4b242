// callshield demo: the one script of the pages. Forms marked data-api post their
// fields as JSON to the API; the sign-in, two-factor and invitation forms have their
// own small flows. No inline script anywhere (the CSP forbids it).
"use strict";

function formJSON(form) {
  const out = {};
  for (const el of form.elements) {
    if (!el.name || el.disabled) continue;
    if (el.hasAttribute("data-array")) {
      if (!out[el.name]) out[el.name] = [];
      if (el.checked) out[el.name].push(el.value);
    } else if (el.hasAttribute("data-bool")) {
      out[el.name] = el.checked;
    } else if (el.hasAttribute("data-number")) {
      out[el.name] = el.value === "" ? 0 : Number(el.value);
    } else if (el.hasAttribute("data-list")) {
      out[el.name] = el.value.split(/[\s,]+/).filter(Boolean);
    } else if (el.value !== "") {
      out[el.name] = el.value;
    }
  }
  if (form.hasAttribute("data-members")) {
    out.members = [];
    for (const row of form.querySelectorAll("[data-member]")) {
      if (!row.querySelector("[data-member-on]").checked) continue;
      const m = { user: row.getAttribute("data-member") };
      const role = row.querySelector("[data-member-role]").value;
      if (role) m.role = role;
      out.members.push(m);
    }
  }
  return out;
}

async function call(method, url, body) {
  const opts = { method, credentials: "same-origin", headers: {} };
  if (body !== undefined) {
    opts.headers["Content-Type"] = "application/json";
    opts.body = JSON.stringify(body);
  }
  const res = await fetch(url, opts);
  let data = null;
  const text = await res.text();
  if (text) { try { data = JSON.parse(text); } catch (e) { data = null; } }
  return { ok: res.ok, status: res.status, data };
}

function showError(form, res) {
  const el = form.querySelector(".form-error");
  const err = res.data && res.data.error;
  const msg = err ? err.message : "Request failed (" + res.status + ")";
  if (el) el.textContent = msg; else alert(msg);
}

function showCodes(codes) {
  const box = document.getElementById("recovery-codes");
  const ul = box.querySelector("ul");
  ul.textContent = "";
  for (const c of codes || []) { const li = document.createElement("li"); li.textContent = c; ul.appendChild(li); }
  box.classList.remove("hidden");
}

function after(form) {
  const next = form.getAttribute("data-next");
  if (next) window.location.assign(next); else window.location.reload();
}

document.addEventListener("submit", async (ev) => {
  const form = ev.target;
  if (form.hasAttribute("data-api")) {
    ev.preventDefault();
    const question = form.getAttribute("data-confirm");
    if (question && !window.confirm(question)) return;
    const method = form.getAttribute("data-api");
    const body = method === "DELETE" ? undefined : formJSON(form);
    const res = await call(method, form.getAttribute("action"), body);
    if (!res.ok) { showError(form, res); return; }
    if (form.hasAttribute("data-show-codes") && res.data) { showCodes(res.data.recovery_codes); return; }
    const follow = form.getAttribute("data-follow");
    if (follow && res.data && res.data[follow]) { window.location.assign(res.data[follow]); return; }
    const field = form.getAttribute("data-show");
    if (field && res.data) {
      // A secret shown once (the API token): display it instead of reloading.
      const box = document.getElementById(field + "-secret");
      box.querySelector("[data-result]").textContent = res.data[field];
      box.classList.remove("hidden");
      return;
    }
    after(form);
  } else if (form.hasAttribute("data-login")) {
    ev.preventDefault();
    const res = await call("POST", form.action, formJSON(form));
    if (!res.ok) { showError(form, res); return; }
    if (res.data && res.data.mfa_required) {
      form.classList.add("hidden");
      const totp = document.getElementById("totp-form");
      totp.classList.remove("hidden");
      totp.querySelector("input").focus();
      return;
    }
    after(form);
  } else if (form.hasAttribute("data-totp")) {
    ev.preventDefault();
    const body = formJSON(form);
    if (body.code) body.code = body.code.replace(/\s+/g, "");
    const res = await call("POST", form.action, body);
    if (res.ok) after(form); else showError(form, res);
  } else if (form.hasAttribute("data-totp-start") || form.hasAttribute("data-reauth")) {
    ev.preventDefault();
    if (form.hasAttribute("data-reauth")) {
      const r = await call("POST", form.action, formJSON(form));
      if (!r.ok) { showError(form, r); return; }
      form.classList.add("hidden");
    }
    const start = document.getElementById("totp-start");
    const res = await call("POST", start.action, {});
    if (res.status === 401 && res.data && res.data.error && res.data.error.code === "reauthentication_required") {
      document.getElementById("reauth-form").classList.remove("hidden");
      return;
    }
    if (!res.ok) { showError(start, res); return; }
    start.classList.add("hidden");
    document.getElementById("totp-qr").src = "data:image/png;base64," + res.data.qr_png;
    document.getElementById("totp-secret").textContent = res.data.secret;
    document.getElementById("totp-setup").classList.remove("hidden");
  } else if (form.hasAttribute("data-totp-confirm")) {
    ev.preventDefault();
    const body = formJSON(form);
    if (body.code) body.code = body.code.replace(/\s+/g, "");
    const res = await call("POST", form.action, body);
    if (!res.ok) { showError(form, res); return; }
    document.getElementById("totp-setup").classList.add("hidden");
    showCodes(res.data.recovery_codes);
  } else if (form.hasAttribute("data-confirm-identity")) {
    ev.preventDefault();
    const res = await call("POST", form.action, formJSON(form));
    if (res.ok) {
      form.classList.add("hidden");
      document.getElementById("confirm-done").classList.remove("hidden");
    } else showError(form, res);
  } else if (form.hasAttribute("data-accept")) {
    ev.preventDefault();
    const res = await call("POST", form.action, formJSON(form));
    if (res.ok) {
      form.classList.add("hidden");
      document.getElementById("accept-done").classList.remove("hidden");
    } else {
      showError(form, res);
      markRules(res.data && res.data.error && res.data.error.violations);
    }
  }
});

// Selects marked data-autosubmit submit their form when changed.
document.addEventListener("change", (ev) => {
  const el = ev.target;
  if (el.hasAttribute && el.hasAttribute("data-autosubmit")) {
    const form = el.form;
    if (form.hasAttribute("data-api")) form.requestSubmit(); else form.submit();
  }
});

// The invitation page: the secret comes from the URL fragment (never sent to a
// server, never in a Referer), and the rules light up while the password is typed.
function markRules(violations) {
  const broken = new Set((violations || []).map((v) => v.rule));
  for (const li of document.querySelectorAll("#password-rules li")) {
    li.classList.toggle("bad", broken.has(li.getAttribute("data-rule")));
    li.classList.toggle("ok", !broken.has(li.getAttribute("data-rule")));
  }
}

document.addEventListener("DOMContentLoaded", () => {
  const confirmForm = document.getElementById("confirm-form");
  if (confirmForm) {
    confirmForm.querySelector("[name=token]").value = decodeURIComponent(window.location.hash.slice(1));
    history.replaceState(null, "", window.location.pathname);
  }
  const accept = document.getElementById("accept-form");
  if (accept) {
    accept.querySelector("[name=token]").value = decodeURIComponent(window.location.hash.slice(1));
    history.replaceState(null, "", window.location.pathname); // the secret leaves the address bar
    const pw = accept.querySelector("[data-password-rules]");
    const email = "";
    pw.addEventListener("input", () => {
      const v = pw.value;
      const li = document.querySelector('#password-rules li[data-rule="too_short"]');
      li.classList.toggle("ok", [...v].length >= 15);
      li.classList.toggle("bad", v.length > 0 && [...v].length < 15);
    });
  }
});
