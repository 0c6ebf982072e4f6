// ddsp-launch web: plain JavaScript, no build step. One function per page.
"use strict";

const $ = (sel, root = document) => root.querySelector(sel);

function showError(box, body) {
  box.className = "error";
  box.textContent = body.error + (body.fix ? "\nFix: " + body.fix : "");
}

async function api(method, url, body) {
  const r = await fetch(url, {method, headers: {"Content-Type": "application/json"}, body: body === undefined ? undefined : JSON.stringify(body)});
  const data = r.headers.get("content-type", "").includes("json") ? await r.json() : {error: await r.text()};
  return {ok: r.ok, data};
}

// Send one file as the raw request body (streamed by the browser), reporting progress.
function putFile(url, file, onProgress) {
  return new Promise((resolve) => {
    const xhr = new XMLHttpRequest();
    xhr.open("PUT", url);
    xhr.upload.onprogress = (e) => { if (e.lengthComputable) onProgress(e.loaded / e.total); };
    xhr.onload = () => {
      let data;
      try { data = JSON.parse(xhr.responseText); } catch (_) { data = {error: xhr.responseText || xhr.statusText}; }
      resolve({ok: xhr.status < 300, data});
    };
    xhr.onerror = () => resolve({ok: false, data: {error: "the upload was interrupted"}});
    xhr.send(file);
  });
}

// ---- new run -------------------------------------------------------------------------------
function newRunPage() {
  let upload = null;        // the server's folder for this page's files
  let pending = 0;
  const list = $("#uploads"), message = $("#message");

  async function uploadFiles(files) {
    if (!upload) {
      const r = await api("POST", "/api/uploads");
      if (!r.ok) { showError(message, r.data); return; }
      upload = r.data.upload;
    }
    for (const file of files) {
      const row = document.createElement("li");
      row.className = "upload-row";
      row.innerHTML = '<span class="name"></span> <progress max="1" value="0"></progress> <span class="status">uploading</span>';
      $(".name", row).textContent = file.name;
      list.appendChild(row);
      pending += 1;
      const r = await putFile(`/api/uploads/${upload}/${encodeURIComponent(file.name)}`, file, (f) => { $("progress", row).value = f; });
      pending -= 1;
      if (r.ok) {
        $("progress", row).value = 1;
        $(".status", row).textContent = r.data.name === file.name ? "uploaded" : `uploaded as ${r.data.name}`;
        row.classList.add("done");
      } else {
        row.classList.add("failed");
        $(".status", row).textContent = r.data.error + (r.data.fix ? " (" + r.data.fix + ")" : "");
      }
    }
  }

  const drop = $("#drop");
  $("#files").addEventListener("change", (e) => uploadFiles([...e.target.files]));
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("over"));
  drop.addEventListener("drop", (e) => { e.preventDefault(); drop.classList.remove("over"); uploadFiles([...e.dataTransfer.files]); });

  function settings() {
    const out = {};
    for (const el of document.querySelectorAll("#run-form [name]")) {
      if (el.closest("[hidden]")) continue;  // a setting of another target
      if (el.type === "checkbox") out[el.name] = el.checked;
      else if (el.value.trim() !== "") out[el.name] = el.value.trim();
    }
    if (upload && document.querySelector(".upload-row.done") && !out.data) out.upload = upload;
    return out;
  }

  // A setting of some targets only (data-targets, from the server's settings table) shows for those.
  function showTargetSettings() {
    const target = $("#field-target").value;
    for (const el of document.querySelectorAll("[data-targets]")) el.hidden = !el.dataset.targets.split(" ").includes(target);
  }
  $("#field-target").addEventListener("change", showTargetSettings);
  showTargetSettings();

  async function check(url) {
    message.className = ""; message.textContent = pending ? "waiting for uploads..." : "";
    if (pending) return null;
    const r = await api("POST", url, settings());
    if (!r.ok) { showError(message, r.data); $("#summary").hidden = true; return null; }
    $("#command").textContent = r.data.command;
    $("#cost").textContent = r.data.cost || "";
    $("#summary").hidden = false;
    return r.data;
  }
  $("#check").addEventListener("click", () => check("/api/check"));
  $("#launch").addEventListener("click", async () => {
    const started = await check("/api/runs");
    if (started) window.location = started.url;
  });
}

// ---- runs list -----------------------------------------------------------------------------
function runsPage() {
  async function refresh() {
    const r = await api("GET", "/api/runs");
    if (!r.ok) return;
    for (const run of r.data) {
      const row = document.querySelector(`tr[data-id="${run.id}"]`);
      if (!row) { window.location.reload(); return; }
      const state = $(".state", row);
      state.textContent = run.state; state.className = "state " + run.state;
      $(".step", row).textContent = run.step === null ? "" : run.step + (run.num_steps ? " / " + run.num_steps : "");
      $(".loss", row).textContent = run.loss === null ? "" : run.loss.toFixed(3);
    }
  }
  setInterval(refresh, 2000);
}

// ---- one run -------------------------------------------------------------------------------
function drawLoss(svg, losses, evals = [], bestStep = null) {
  svg.innerHTML = "";
  if (losses.length < 2 && evals.length < 1) return;
  const all = losses.concat(evals);  // the training loss and the held-out loss on one scale
  const xs = all.map((p) => p[0]), ys = all.map((p) => p[1]);
  const x0 = Math.min(...xs), x1 = Math.max(...xs), y0 = Math.min(...ys), y1 = Math.max(...ys);
  const px = (x) => 10 + 580 * (x - x0) / ((x1 - x0) || 1), py = (y) => 190 - 180 * (y - y0) / ((y1 - y0) || 1);
  const ns = "http://www.w3.org/2000/svg";
  if (losses.length >= 2) {
    const line = document.createElementNS(ns, "polyline");
    line.setAttribute("points", losses.map((p) => `${px(p[0])},${py(p[1])}`).join(" "));
    svg.appendChild(line);
  }
  if (evals.length) {
    const held = document.createElementNS(ns, "polyline");
    held.setAttribute("class", "eval");
    held.setAttribute("points", evals.map((p) => `${px(p[0])},${py(p[1])}`).join(" "));
    svg.appendChild(held);
    for (const p of evals) {
      const dot = document.createElementNS(ns, "circle");
      dot.setAttribute("cx", px(p[0])); dot.setAttribute("cy", py(p[1])); dot.setAttribute("r", p[0] === bestStep ? 5 : 2.5);
      dot.setAttribute("class", p[0] === bestStep ? "eval best" : "eval");
      svg.appendChild(dot);
    }
  }
  svg.setAttribute("data-points", String(losses.length));
  svg.setAttribute("data-evals", String(evals.length));
  $("#loss-range").textContent = `steps ${x0}–${x1}; loss from ${y1.toFixed(2)} (top) to ${y0.toFixed(2)} (bottom)` +
    (evals.length ? "; dots: held-out spectral loss" : "");
  $("#best").textContent = bestStep === null ? "none yet (kept when the dataset has an eval split; until then the newest)" :
    `step ${bestStep} (lowest held-out loss; the model zip and transfer use it)`;
}

function runPage() {
  const id = $("#run").dataset.id, message = $("#message");
  let finished = false;

  async function refresh() {
    const r = await api("GET", `/api/runs/${id}`);
    if (r.ok) {
      const run = r.data;
      $("#state").textContent = run.state; $("#state").className = "state " + run.state;
      $("#step").textContent = run.step === null ? "–" : run.step;
      $("#num-steps").textContent = run.num_steps || "–";
      $("#output").textContent = run.output || "–";
      if (run.console) { $("#console").href = run.console; $("#console-part").hidden = false; }
      if (run.command_line) { $("#command-line").textContent = run.command_line; $("#command-section").hidden = false; }
      $("#loss").textContent = run.loss === null ? "–" : run.loss.toFixed(3);
      $("#cancel").disabled = !run.can_cancel;
      $("#tensorboard").disabled = !run.output;   // the record may not exist yet when the page first renders
      $("#transfer").hidden = !run.local;
      $("#model-zip").classList.toggle("disabled", !run.has_checkpoint);
      $("#transfer-go").disabled = !run.has_checkpoint;
      drawLoss($("#loss-curve"), run.losses, run.evals || [], run.best_step ?? null);
      finished = !["starting", "running"].includes(run.state);
    }
    const log = await fetch(`/api/runs/${id}/log`);
    if (log.ok) {
      const pre = $("#log"), atEnd = pre.scrollTop + pre.clientHeight >= pre.scrollHeight - 5;
      pre.textContent = await log.text();
      if (atEnd) pre.scrollTop = pre.scrollHeight;
    }
    setTimeout(refresh, finished ? 5000 : 1000);
  }
  refresh();

  $("#cancel").addEventListener("click", async () => {
    const r = await api("POST", `/api/runs/${id}/cancel`);
    message.className = ""; message.textContent = r.data.cancelled ? "stopping: the trainer saves a checkpoint first" : "the run is not running";
  });
  $("#tensorboard").addEventListener("click", async () => {
    message.textContent = "starting TensorBoard...";
    const r = await api("POST", `/api/runs/${id}/tensorboard`);
    if (!r.ok) { showError(message, r.data); return; }
    message.textContent = "";
    $("#tensorboard-link").innerHTML = `<a id="tensorboard-url" target="_blank" href="${r.data.url}">TensorBoard: ${r.data.url}</a>`;
  });
  $("#model-zip").addEventListener("click", (e) => { if (e.currentTarget.classList.contains("disabled")) e.preventDefault(); });
  $("#transfer-go").addEventListener("click", async () => {
    const file = $("#transfer-file").files[0], status = $("#transfer-status");
    if (!file) { status.textContent = "choose a recording first"; return; }
    status.className = ""; status.textContent = "uploading...";
    const r = await putFile(`/api/runs/${id}/transfers/${encodeURIComponent(file.name)}`, file, (f) => { status.textContent = `uploading ${Math.round(100 * f)}%`; });
    if (!r.ok) { showError(status, r.data); return; }
    status.textContent = "transferring (TensorFlow starts first: some seconds)...";
    const poll = async () => {
      const t = await api("GET", `/api/transfers/${r.data.transfer}`);
      if (t.data.state === "running") { setTimeout(poll, 1000); return; }
      if (t.data.state === "succeeded") {
        status.textContent = "done";
        const audio = $("#transfer-audio");
        audio.src = t.data.url; audio.hidden = false;
      } else {
        status.className = "error"; status.textContent = "transfer failed: " + t.data.message;
      }
    };
    poll();
  });
}

// Each page says which it is (<body data-page>); only that page's code runs.
({new: newRunPage, runs: runsPage, run: runPage})[document.body.dataset.page]?.();
