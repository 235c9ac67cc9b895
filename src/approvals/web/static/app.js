// Diagrams on task and project pages: bpmn-js (served from our own static files) with markers.
(function () {
  document.querySelectorAll("figure.diagram").forEach(async (figure) => {
    const viewer = new BpmnJS({ container: figure.querySelector(".canvas") });
    try {
      await viewer.importXML(figure.dataset.xml);
    } catch (error) {
      figure.querySelector(".canvas").textContent = String(error);
      return;
    }
    const canvas = viewer.get("canvas");
    const registry = viewer.get("elementRegistry");
    const mark = (ids, css) => JSON.parse(ids).forEach((id) => {
      if (registry.get(id)) canvas.addMarker(id, css);
    });
    mark(figure.dataset.finished, "done");
    mark(figure.dataset.active, "active");
    mark(figure.dataset.overdue, "late");
    // The whole diagram when its labels stay readable; else readable, around the open steps
    // (drag to move, the buttons or the mouse wheel to zoom: it is a navigated viewer).
    const focus = () => {
      canvas.zoom("fit-viewport");
      const active = JSON.parse(figure.dataset.active).map((id) => registry.get(id)).filter(Boolean);
      if (canvas.zoom() < 0.6 && active.length) {
        canvas.zoom(0.8);
        canvas.scrollToElement(active[0], 40);
      }
    };
    focus();
    figure.querySelectorAll("[data-zoom]").forEach((button) => button.addEventListener("click", () => {
      const how = button.dataset.zoom;
      if (how === "fit") canvas.zoom("fit-viewport");
      else canvas.zoom(canvas.zoom() * (how === "in" ? 1.25 : 0.8));
    }));
    figure.dataset.ready = "true";
  });
})();

// A form field the schema requires only when another field has a value (if/then) shows only
// then; hidden, its inputs are disabled, so nothing of it is sent.
(function () {
  document.querySelectorAll("form").forEach((form) => {
    const conditional = form.querySelectorAll("[data-when-field]");
    if (!conditional.length) return;
    const valueOf = (name) => {
      const checked = form.querySelector(`input[name="${name}"]:checked`);
      if (checked) return checked.value;
      const other = form.querySelector(`select[name="${name}"], input[name="${name}"]:not([type=radio])`);
      return other ? other.value : "";
    };
    const update = () => conditional.forEach((field) => {
      const shown = JSON.parse(field.dataset.whenValues).includes(valueOf(field.dataset.whenField));
      field.hidden = !shown;
      field.querySelectorAll("input, select, textarea").forEach((input) => (input.disabled = !shown));
    });
    form.addEventListener("change", update);
    update();
  });
})();

// A chosen file is uploaded at once and listed under its field: it stays attached to the step
// whatever happens to the form (an error elsewhere keeps it), and completing the step takes it.
(function () {
  const token = document.querySelector('meta[name="csrf-token"]')?.content || "";
  document.querySelectorAll("input[type=file][data-upload-url]").forEach((input) => {
    const field = input.closest("[data-field]");
    const list = field.querySelector("ul.attached");
    const status = field.querySelector(".upload-status");
    input.addEventListener("change", async () => {
      for (const file of Array.from(input.files)) {
        const body = new FormData();
        body.append("field", input.name);
        body.append("file", file);
        status.textContent = file.name + " …";
        const reply = await fetch(input.dataset.uploadUrl, { method: "POST", body, headers: { "X-CSRFToken": token } });
        const answer = await reply.json().catch(() => ({}));
        status.classList.toggle("field-error", !reply.ok);
        if (!reply.ok) {
          status.textContent = file.name + ": " + (answer.message || reply.statusText);
          continue;
        }
        const item = document.createElement("li");
        const link = document.createElement("a");
        link.href = answer.url;
        link.textContent = answer.name;
        item.append(link);
        list.append(item);
        status.textContent = "";
      }
      input.value = ""; // uploaded: the form does not send it again
      field.dataset.uploaded = String(list.children.length);
    });
  });
})();
