// The model page's diagram. Owners get the modeler: check the draft with the server's linter (each
// problem drawn on its element and listed; a click on the list shows the element), run the model
// tests, and publish (publish.js). Everyone else gets the navigated viewer
// (zoom and pan, no editing tools): the page loads the viewer bundle for them.
(async function () {
  const host = document.getElementById("modeler");
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const editable = host.dataset.editable === "true";
  // Owners get our bundle (bpmn-js with the properties panel, frontend/); everyone else the viewer.
  // diagram-js binds its keyboard to the canvas itself (click it first); no `keyboard.bindTo`.
  const panelHost = document.getElementById("properties");
  if (panelHost) window.approvalsPanel = JSON.parse(panelHost.dataset.panel);
  const modeler = editable
    ? window.ApprovalsModeler.create({
        container: host,
        // Our group opens by itself: it is what owners come to the panel for.
        propertiesPanel: { parent: "#properties", layout: { groups: { approvals: { open: true }, "approvals-problems": { open: true } } } },
      })
    : new BpmnJS({ container: host });
  window.approvalsModeler = modeler;  // for people (and tests) at the console
  const response = await fetch(host.dataset.xmlUrl);
  await modeler.importXML(await response.text());
  const canvas = modeler.get("canvas");
  canvas.zoom("fit-viewport", "auto");
  if (editable) {  // leave room on the left for the palette, so it does not cover the lane labels
    const box = canvas.viewbox();
    const room = 110 / box.scale;
    canvas.viewbox({ x: box.x - room, y: box.y, width: box.width + room, height: box.height + room / 4 });
  }
  host.dataset.ready = "true";
  if (!editable) return;

  const outcome = document.getElementById("outcome");
  const list = document.getElementById("problems");
  const overlays = modeler.get("overlays");
  const registry = modeler.get("elementRegistry");
  let marked = [];

  function show(problems) {
    // The panel lists the selected element's problems too (frontend/properties.js).
    window.approvalsPanel.problems = {};
    problems.forEach((p) => {
      if (p.element) (window.approvalsPanel.problems[p.element] ||= []).push(p.message);
    });
    modeler.get("eventBus").fire("propertiesPanel.providersChanged");
    marked.filter((id) => registry.get(id)).forEach((id) => canvas.removeMarker(id, "problem"));  // (some may be deleted)
    overlays.remove({ type: "problem" });
    marked = [];
    list.replaceChildren();
    problems.forEach((problem) => {
      const item = document.createElement("li");
      item.textContent = (problem.element ? problem.element + ": " : "") + problem.message;
      item.dataset.element = problem.element || "";
      list.appendChild(item);
      const element = problem.element && registry.get(problem.element);
      if (!element) return;
      item.tabIndex = 0;
      item.classList.add("link");
      item.addEventListener("click", () => {
        canvas.scrollToElement(element);
        modeler.get("selection").select(element);
      });
      canvas.addMarker(problem.element, "problem");
      marked.push(problem.element);
      const note = document.createElement("div");
      note.className = "problem-note";
      note.dataset.element = problem.element;
      note.textContent = problem.message;
      overlays.add(problem.element, "problem", { position: { bottom: -6, left: 0 }, html: note });
    });
  }

  const testsBox = document.getElementById("tests");

  async function draft() {
    return (await modeler.saveXML({ format: true })).xml;
  }

  // The draft as the server's preview, test run and publish take it: the diagram and the test cases.
  async function draftBody(extra) {
    return JSON.stringify({ xml: await draft(), tests: testsBox ? testsBox.value : undefined, ...extra });
  }

  function post(url, body, type) {
    return fetch(url, { method: "POST", body, headers: { "Content-Type": type, "X-CSRFToken": csrf } });
  }

  // Model tests: run them, list each case, and draw the chosen case's path on the diagram.
  const results = document.getElementById("test-results");
  let pathMarked = [];

  function showPath(result) {
    pathMarked.filter((id) => registry.get(id)).forEach((id) => canvas.removeMarker(id, "test-path"));
    pathMarked = result.path.filter((id) => registry.get(id));
    pathMarked.forEach((id) => canvas.addMarker(id, "test-path"));
    results.querySelectorAll("li").forEach((li) => li.classList.toggle("on", li.dataset.name === result.name));
  }

  document.getElementById("run-tests")?.addEventListener("click", async () => {
    const said = document.getElementById("tests-outcome");
    const reply = await post(testsBox.dataset.testsUrl, await draftBody({}), "application/json");
    const answer = await reply.json();
    results.replaceChildren();
    if (!reply.ok) {
      show(answer.problems || []);
      said.textContent = answer.message || reply.statusText;
      return;
    }
    show(answer.results.flatMap((r) => r.failures.map((f) => ({ element: f.step, message: r.name + ": " + f.message }))));
    answer.results.forEach((result) => {
      const li = document.createElement("li");
      li.className = result.passed ? "passed" : "failed";
      li.dataset.name = result.name;
      li.textContent = result.name + result.failures.map((f) => " — " + (f.step ? f.step + ": " : "") + f.message).join("");
      li.addEventListener("click", () => showPath(result));
      results.appendChild(li);
    });
    const failed = answer.results.filter((r) => !r.passed).length;
    said.textContent = answer.results.length - failed + " ✓ " + failed + " ✗";
  });

  let checks = 0;
  async function check() {
    const mine = ++checks;
    const answer = await (await post(host.dataset.checkUrl, await draft(), "application/xml")).json();
    if (mine !== checks) return;  // a later check is on its way: its answer is the one to show
    show(answer.problems);
    outcome.textContent = answer.problems.length ? answer.problems.length + " ✗" : host.dataset.ok;
  }
  document.getElementById("check").addEventListener("click", check);
  // Every edit is checked by the same server rules as publishing, a moment after the owner stops.
  let pendingCheck = null;
  modeler.get("eventBus").on("commandStack.changed", () => {
    clearTimeout(pendingCheck);
    pendingCheck = setTimeout(check, 700);
  });

  window.approvalsPublish({
    host,
    draftBody: () => draftBody({}),
    post: (url, body) => post(url, body, "application/json"),
    show,
    outcome,
  });
})();
