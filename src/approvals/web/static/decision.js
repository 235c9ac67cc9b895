// A decision table (DMN) on the model page: owners edit its rules in dmn-js's modeler and publish
// them (publish.js) after the server's checks; everyone else gets dmn-js's viewer (both bundled
// from frontend/decision.js).
(async function () {
  const host = document.getElementById("decision");
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const editable = host.dataset.editable === "true";
  const Editor = editable ? window.ApprovalsDecision.Modeler : window.ApprovalsDecision.Viewer;
  const editor = new Editor({ container: host });
  window.approvalsDecision = editor;  // for people (and tests) at the console
  await editor.importXML(await (await fetch(host.dataset.xmlUrl)).text());
  const table = editor.getViews().find((view) => view.type === "decisionTable");
  if (table) await editor.open(table);
  host.dataset.ready = "true";
  if (!editable) return;  // the viewer: nothing to edit
  const outcome = document.getElementById("outcome");
  const list = document.getElementById("problems");
  function show(problems) {
    list.replaceChildren();
    problems.forEach((problem) => {
      const item = document.createElement("li");
      item.textContent = (problem.element ? problem.element + ": " : "") + problem.message;
      list.appendChild(item);
    });
  }
  const post = (url, body) =>
    fetch(url, { method: "POST", body, headers: { "Content-Type": "application/json", "X-CSRFToken": csrf } });
  window.approvalsPublish({
    host,
    draftBody: async () => JSON.stringify({ xml: (await editor.saveXML({ format: true })).xml }),
    post,
    show,
    outcome,
  });
})();
