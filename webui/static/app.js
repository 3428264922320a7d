// spoolscribe pages: live regions, transcript playback, uploads. No build step, no library.
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
      if (!line) return;
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
