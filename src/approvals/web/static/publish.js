// Publishing from the model page, for the process modeler and the decision table editor alike:
// preview first (nothing changed says so; failing model tests are shown and stop it); otherwise a
// dialog lists the changes and asks for the change note, then publishes and reloads the page on
// the new version, with the migration of running instances at hand.
window.approvalsPublish = function ({ host, draftBody, post, show, outcome }) {
  const dialog = document.getElementById("publish-dialog");
  const changes = document.getElementById("changes");
  let pending = null;

  function section(title, items) {
    const block = document.createElement("div");
    const heading = document.createElement("h3");
    heading.textContent = title;
    const ul = document.createElement("ul");
    (items.length ? items : [changes.dataset.none]).forEach((text) => {
      const li = document.createElement("li");
      li.textContent = text;
      ul.appendChild(li);
    });
    block.append(heading, ul);
    return block;
  }

  function describe(preview) {
    changes.replaceChildren();
    if (preview.elements) {
      const label = (e) =>
        (e.name ? e.name + " (" + e.bpmn_id + ")" : e.bpmn_id) + (e.what.length ? ": " + e.what.join(", ") : "");
      for (const kind of ["added", "removed", "changed"]) {
        changes.appendChild(section(changes.dataset[kind], preview.elements[kind].map(label)));
      }
    } else {
      changes.appendChild(section(changes.dataset.changed, [preview.name + " (" + preview.key + ")"]));
    }
    const forms = preview.forms;
    const named = [].concat(
      forms.added.map((n) => "+ " + n), forms.removed.map((n) => "− " + n), forms.changed.map((n) => "~ " + n));
    if (named.length || preview.elements) changes.appendChild(section(changes.dataset.forms, named));
  }

  document.getElementById("publish").addEventListener("click", async () => {
    const body = await draftBody();
    const reply = await post(host.dataset.previewUrl, body);
    const answer = await reply.json();
    if (!reply.ok) {
      show(answer.problems || []);
      outcome.textContent = answer.message || reply.statusText;
      return;
    }
    const failures = (answer.tests || []).flatMap((r) =>
      r.failures.map((f) => ({ element: f.step, message: host.dataset.testCase + " " + r.name + ": " + f.message })));
    show(failures);
    if (failures.length) {  // publishing would refuse: say so here, with the failures on the diagram
      outcome.textContent = failures.length + " ✗ " + failures[0].message;
      return;
    }
    if (answer.unchanged) {
      outcome.textContent = host.dataset.unchanged;
      return;
    }
    pending = body;
    document.getElementById("next-version").textContent = (answer.current_version || 0) + 1;
    describe(answer);
    dialog.showModal();
  });

  dialog.addEventListener("close", async () => {
    if (dialog.returnValue !== "publish" || pending === null) return;
    const note = document.getElementById("change-note").value;
    const reply = await post(host.dataset.publishUrl, JSON.stringify({ ...JSON.parse(pending), note }));
    const answer = await reply.json();
    if (!reply.ok) {
      show(answer.problems || []);
      outcome.textContent = answer.message || reply.statusText;
      return;
    }
    pending = null;
    window.location.assign(host.dataset.pageUrl + "?published=" + answer.version + (answer.created ? "#migration" : ""));
  });
};
