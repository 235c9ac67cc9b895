// The process owner's modeler: edit the latest version, check it with the server's linter (each
// problem drawn on its element), and publish it as a new version.
(async function () {
  const host = document.getElementById("modeler");
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const modeler = new BpmnJS({ container: host, keyboard: { bindTo: document } });
  window.approvalsModeler = modeler;  // for people (and tests) at the console
  const response = await fetch(host.dataset.xmlUrl);
  await modeler.importXML(await response.text());
  modeler.get("canvas").zoom("fit-viewport");
  host.dataset.ready = "true";

  const outcome = document.getElementById("outcome");
  const list = document.getElementById("problems");
  const canvas = modeler.get("canvas");
  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");
  let marked = [];

  function show(problems) {
    marked.forEach((id) => canvas.removeMarker(id, "problem"));
    overlays.remove({ type: "problem" });
    marked = [];
    list.replaceChildren();
    problems.forEach((problem) => {
      const item = document.createElement("li");
      item.textContent = (problem.element ? problem.element + ": " : "") + problem.message;
      item.dataset.element = problem.element || "";
      list.appendChild(item);
      if (problem.element && registry.get(problem.element)) {
        canvas.addMarker(problem.element, "problem");
        marked.push(problem.element);
        const note = document.createElement("div");
        note.className = "problem-note";
        note.dataset.element = problem.element;
        note.textContent = problem.message;
        overlays.add(problem.element, "problem", { position: { bottom: -6, left: 0 }, html: note });
      }
    });
  }

  async function post(url) {
    const { xml } = await modeler.saveXML({ format: true });
    return fetch(url, { method: "POST", body: xml, headers: { "Content-Type": "application/xml", "X-CSRFToken": csrf } });
  }

  document.getElementById("check")?.addEventListener("click", async () => {
    const answer = await (await post(host.dataset.checkUrl)).json();
    show(answer.problems);
    outcome.textContent = answer.problems.length ? answer.problems.length + " ✗" : host.dataset.ok;
  });
  document.getElementById("publish")?.addEventListener("click", async () => {
    const reply = await post(host.dataset.publishUrl);
    const answer = await reply.json();
    if (!reply.ok) {
      show(answer.problems || []);
      outcome.textContent = answer.message || reply.statusText;
      return;
    }
    show([]);
    outcome.textContent = host.dataset.published + " v" + answer.version;
    document.querySelector("[data-testid=version]").textContent = answer.version;
  });
})();
