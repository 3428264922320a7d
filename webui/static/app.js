// spoolscribe pages: live regions, transcript playback and editing, uploads. No build step, no library.
(function () {
  "use strict";
  var csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || "";

  // A [data-live-url] element polls its URL, which answers {"html": {id: html}, "active": bool}:
  // every second while something is active, every five seconds otherwise. With
  // data-reload-when-done the page reloads once what it shows has finished (to show the results).
  function live(element) {
    var url = element.dataset.liveUrl;
    var active = element.dataset.liveActive === "1";
    var reloadWhenDone = element.hasAttribute("data-reload-when-done");
    if (reloadWhenDone && !active) return;
    function schedule() { setTimeout(tick, active && !document.hidden ? 1000 : 5000); }
    function tick() {
      fetch(url, {headers: {"Accept": "application/json"}, credentials: "same-origin"})
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (data) {
          if (data) {
            Object.keys(data.html).forEach(function (id) {
              var target = document.getElementById(id);
              if (target) target.innerHTML = data.html[id];
            });
            if (reloadWhenDone && active && !data.active) { window.location.reload(); return; }
            active = data.active;
          }
          schedule();
        })
        .catch(schedule);
    }
    schedule();
  }
  document.querySelectorAll("[data-live-url]").forEach(live);

  // Transcript: a click on a line plays the recording from the line's start.
  var player = document.getElementById("player");
  var lines = document.getElementById("lines");
  if (player && lines) {
    lines.addEventListener("click", function (event) {
      var line = event.target.closest("li[data-start]");
      if (!line || event.target.closest("button.edit, [contenteditable=true]")) return;
      player.currentTime = parseFloat(line.dataset.start);
      player.play().catch(function () {});
    });
    player.addEventListener("timeupdate", function () {
      var now = player.currentTime;
      lines.querySelectorAll("li[data-start]").forEach(function (line) {
        var on = now >= parseFloat(line.dataset.start) && now < parseFloat(line.dataset.end);
        line.classList.toggle("playing", on);
      });
    });
  }

  // A search hit links here with ?t=<seconds>#segment-<n>: the player starts there, the line is marked.
  var startAt = parseFloat(new URLSearchParams(window.location.search).get("t"));
  if (player && startAt >= 0) {
    var seek = function () {
      player.currentTime = startAt;
      player.play().catch(function () {});
    };
    if (player.readyState >= 1) seek(); else player.addEventListener("loadedmetadata", seek, {once: true});
  }
  var target = window.location.hash && document.getElementById(window.location.hash.slice(1));
  if (target && lines && lines.contains(target)) target.classList.add("target");

  // Editing a line in place (the job page, when it can be edited): the pencil makes the text
  // editable; Enter saves it through the API (every output is rewritten), Escape cancels. The
  // version the edit started from goes along, so an edit made meanwhile elsewhere is not lost:
  // the server answers 409 with the text now, which is shown.
  function note(line, text, kind) {
    var element = line.querySelector(".note") || document.createElement("span");
    element.className = "note " + kind;
    element.setAttribute("role", "status");
    element.textContent = text;
    line.appendChild(element);
  }
  function edit(line) {
    var span = line.querySelector(".text");
    var before = span.textContent;
    function finish() {
      span.removeEventListener("keydown", key);
      span.removeEventListener("blur", cancel);
      span.contentEditable = "false";
      line.classList.remove("editing");
    }
    function cancel() { span.textContent = before; finish(); }
    function save() {
      var text = span.textContent;
      finish();
      if (text.trim() === before.trim()) { span.textContent = before; return; }
      note(line, "saving…", "busy");
      fetch(lines.dataset.editUrl + line.dataset.index, {
        method: "PATCH", credentials: "same-origin",
        headers: {"Content-Type": "application/json", "Accept": "application/json", "X-CSRF-Token": csrf},
        body: JSON.stringify({text: text, base_version: parseInt(line.dataset.version, 10)})
      }).then(function (response) {
        return response.json().catch(function () { return {}; }).then(function (body) {
          if (response.ok) {
            span.textContent = body.text; line.dataset.version = body.version; note(line, "saved", "ok");
          } else if (response.status === 409 && typeof body.text === "string") {
            span.textContent = body.text; line.dataset.version = body.version;
            note(line, "not saved: it was changed meanwhile; this is the text now", "error");
          } else {
            span.textContent = before; note(line, body.error || "not saved (HTTP " + response.status + ")", "error");
          }
        });
      }).catch(function () { span.textContent = before; note(line, "not saved: the connection was lost", "error"); });
    }
    function key(event) {
      if (event.isComposing) return;  // Enter that ends an input method's composition (Japanese, ...)
      if (event.key === "Escape") { event.preventDefault(); cancel(); }
      else if (event.key === "Enter") { event.preventDefault(); save(); }
    }
    line.classList.add("editing");
    span.contentEditable = "true";
    span.addEventListener("keydown", key);
    span.addEventListener("blur", cancel);
    span.focus();
    window.getSelection().selectAllChildren(span);
  }
  if (lines && lines.dataset.editUrl) {
    lines.addEventListener("click", function (event) {
      var button = event.target.closest("button.edit");
      if (button) edit(button.closest("li[data-index]"));
    });
  }

  // Upload: drag and drop onto the file field; with JavaScript each file is sent in a request of
  // its own to the API (progress per file); without it the form posts every file at once.
  var form = document.getElementById("upload-form");
  if (!form) return;
  var input = document.getElementById("files");
  var drop = document.getElementById("drop");
  var chosen = document.getElementById("chosen");
  var statusList = document.getElementById("upload-status");
  var limit = parseInt(form.dataset.limit, 10);

  function size(bytes) {
    var units = ["bytes", "KiB", "MiB", "GiB"], unit = 0;
    while (bytes >= 1024 && unit < units.length - 1) { bytes /= 1024; unit += 1; }
    return (unit ? bytes.toFixed(1) : bytes) + " " + units[unit];
  }
  function listChosen() {
    chosen.innerHTML = "";
    Array.prototype.forEach.call(input.files, function (file) {
      var item = document.createElement("li");
      item.textContent = file.name + " (" + size(file.size) + ")";
      if (file.size > limit) item.className = "error";
      chosen.appendChild(item);
    });
  }
  input.addEventListener("change", listChosen);
  ["dragenter", "dragover"].forEach(function (name) {
    drop.addEventListener(name, function (event) { event.preventDefault(); drop.classList.add("over"); });
  });
  ["dragleave", "drop"].forEach(function (name) {
    drop.addEventListener(name, function () { drop.classList.remove("over"); });
  });
  drop.addEventListener("drop", function (event) {
    event.preventDefault();
    input.files = event.dataTransfer.files;
    listChosen();
  });

  function report(file, text, kind) {
    var item = document.createElement("li");
    item.className = kind;
    item.textContent = file.name + ": " + text;
    statusList.appendChild(item);
    return item;
  }
  function send(file) {
    return new Promise(function (resolve) {
      if (file.size > limit) {
        report(file, "larger than the upload limit of " + size(limit) + "; not sent", "error");
        resolve(false);
        return;
      }
      var data = new FormData(form);
      data.delete("file");
      data.append("file", file, file.name);
      var item = report(file, "uploading…", "busy");
      var request = new XMLHttpRequest();
      request.open("POST", form.dataset.api);
      request.setRequestHeader("X-CSRF-Token", csrf);
      request.setRequestHeader("Accept", "application/json");
      request.upload.addEventListener("progress", function (event) {
        if (event.lengthComputable) item.textContent = file.name + ": uploading " + Math.floor(100 * event.loaded / event.total) + "%";
      });
      request.addEventListener("load", function () {
        var body = {};
        try { body = JSON.parse(request.responseText); } catch (ignored) { body = {}; }
        var ok = request.status === 201;
        item.className = ok ? "ok" : "error";
        item.textContent = file.name + ": " + (ok ? "queued" : (body.error || "refused (HTTP " + request.status + ")"));
        resolve(ok);
      });
      request.addEventListener("error", function () {
        item.className = "error";
        item.textContent = file.name + ": the upload was interrupted (connection lost)";
        resolve(false);
      });
      request.send(data);
    });
  }
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var files = Array.prototype.slice.call(input.files);
    if (!files.length) return;
    statusList.innerHTML = "";
    form.querySelector("button[type=submit]").disabled = true;
    files.reduce(function (previous, file) {
      return previous.then(function (results) { return send(file).then(function (ok) { return results.concat([ok]); }); });
    }, Promise.resolve([])).then(function (results) {
      form.querySelector("button[type=submit]").disabled = false;
      if (results.every(Boolean)) window.location.href = form.dataset.done;
    });
  });
})();
