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
    canvas.zoom("fit-viewport");
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
