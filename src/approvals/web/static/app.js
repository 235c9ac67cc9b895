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
