// The form designer: add, order and edit a form's fields; the JSON Schema below is written from
// them (and read back into them when edited by hand), and the preview beside is the server's own
// rendering of the schema, exactly as staff will see the form. Saving is the page's form (a new
// version, with the server's checks).
(function () {
  const host = document.getElementById("designer");
  const textarea = document.getElementById("schema");
  const words = JSON.parse(host.dataset.words);
  const say = (text) => words[text] || text;
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const TYPES = ["text", "long text", "number", "whole number", "date", "choice", "yes/no", "files"];
  const FILE_TYPES = ["pdf", "image", "office", "drawing", "archive"];
  const LONG = 4000;
  let schema = {};
  let fields = [];

  // -- the schema and the fields, both ways ----------------------------------------------------

  function kindOf(prop) {
    if (prop["x-material"]) return "files";
    if (prop.type === "boolean") return "yes/no";
    if (Array.isArray(prop.enum)) return "choice";
    if (prop.type === "number") return "number";
    if (prop.type === "integer") return "whole number";
    if (prop.type === "string" && prop.format === "date") return "date";
    if (prop.type === "string") return (prop.maxLength || 0) > 200 ? "long text" : "text";
    return "other (edit the JSON)";
  }

  function read(text) {
    schema = JSON.parse(text);
    const required = new Set(schema.required || []);
    const when = {};
    (schema.allOf || []).forEach((rule) => {
      const tested = Object.entries((rule.if || {}).properties || {})[0];
      if (!tested || !rule.then) return;
      const [field, test] = tested;
      const values = "const" in test ? [test.const] : test.enum;
      if (!values) return;
      (rule.then.required || []).forEach((name) => (when[name] = { field, values }));
    });
    fields = Object.entries(schema.properties || {}).map(([name, prop]) => ({
      name, prop: { ...prop }, kind: kindOf(prop), required: required.has(name), when: when[name] || null,
    }));
  }

  function propFor(field) {
    const prop = { ...field.prop };
    ["type", "format", "enum", "x-enum-titles", "x-material", "items"].forEach((key) => delete prop[key]);
    if (!["text", "long text"].includes(field.kind)) ["maxLength", "minLength", "pattern"].forEach((key) => delete prop[key]);
    if (!prop.title) delete prop.title;
    switch (field.kind) {
      case "text": return { ...prop, type: "string", maxLength: Math.min(prop.maxLength || 200, 200) };
      case "long text": return { ...prop, type: "string", maxLength: prop.maxLength > 200 ? prop.maxLength : LONG };
      case "number": return { ...prop, type: "number" };
      case "whole number": return { ...prop, type: "integer" };
      case "date": return { ...prop, type: "string", format: "date" };
      case "choice": {
        const options = field.options || optionsOf(field.prop);
        return { ...prop, type: "string", enum: options.map((o) => o.value), "x-enum-titles": options.map((o) => o.title) };
      }
      case "yes/no": return { ...prop, type: "boolean", enum: [true, false], "x-enum-titles": ["是", "否"] };
      case "files":
        return { ...prop, type: "array", items: { type: "integer" }, "x-material": { types: field.fileTypes || (field.prop["x-material"] || {}).types || ["pdf"] } };
      default: return field.prop;
    }
  }

  function optionsOf(prop) {
    const titles = prop["x-enum-titles"] || [];
    return (prop.enum || []).map((value, i) => ({ value: String(value), title: titles[i] || String(value) }));
  }

  function write() {
    const properties = {};
    fields.forEach((field) => (properties[field.name] = (field.prop = propFor(field))));
    const conditions = new Map();
    fields.filter((f) => f.when && f.when.field).forEach((f) => {
      const key = JSON.stringify([f.when.field, f.when.values]);
      conditions.set(key, [...(conditions.get(key) || []), f.name]);
    });
    const allOf = [...conditions.entries()].map(([key, names]) => {
      const [field, values] = JSON.parse(key);
      const test = values.length === 1 ? { const: values[0] } : { enum: values };
      return { if: { properties: { [field]: test }, required: [field] }, then: { required: names } };
    });
    const next = { ...schema, type: "object", properties, required: fields.filter((f) => f.required && !f.when).map((f) => f.name) };
    if (allOf.length) next.allOf = allOf; else delete next.allOf;
    if (!next.required.length) delete next.required;
    schema = next;
    textarea.value = JSON.stringify(schema, null, 2);
    preview();
  }

  // -- the preview -----------------------------------------------------------------------------

  let waiting = null;
  function preview() {
    clearTimeout(waiting);
    waiting = setTimeout(async () => {
      const reply = await fetch(host.dataset.previewUrl, {
        method: "POST", body: textarea.value, headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
      });
      const answer = await reply.json();
      const problems = document.getElementById("preview-problems");
      problems.replaceChildren(...(answer.problems || []).map((text) => Object.assign(document.createElement("li"), { textContent: text })));
      if (reply.ok) document.getElementById("preview").innerHTML = answer.html;  // the server's escaped rendering
    }, 300);
  }

  // -- the field editor ------------------------------------------------------------------------

  function input(label, value, onChange, attrs = {}) {
    const wrap = document.createElement("label");
    wrap.className = "field";
    const span = Object.assign(document.createElement("span"), { className: "label", textContent: label });
    const el = Object.assign(document.createElement(attrs.tag || "input"), attrs.props || {});
    if (el.type === "checkbox") el.checked = value; else el.value = value ?? "";
    el.addEventListener("change", () => onChange(el.type === "checkbox" ? el.checked : el.value));
    wrap.append(span, el);
    return wrap;
  }

  function select(label, value, choices, onChange, name) {
    const wrap = input(label, value, onChange, { tag: "select", props: { name } });
    const el = wrap.querySelector("select");
    choices.forEach(([v, text]) => el.appendChild(Object.assign(document.createElement("option"), { value: v, textContent: text })));
    el.value = value ?? "";
    return wrap;
  }

  function button(text, onClick) {
    const el = Object.assign(document.createElement("button"), { type: "button", textContent: say(text) });
    el.addEventListener("click", onClick);
    return el;
  }

  function render() {
    host.replaceChildren();
    fields.forEach((field, index) => {
      const row = document.createElement("fieldset");
      row.className = "designer-field";
      row.dataset.field = field.name;
      const change = (update) => (value) => { update(value); write(); render(); };
      row.append(
        input(say("Name"), field.name, change((v) => (field.name = v.trim() || field.name)), { props: { name: "field-name" } }),
        input(say("Title"), field.prop.title || "", change((v) => (field.prop.title = v)), { props: { name: "field-title" } }),
        select(say("Type"), field.kind, [...TYPES, ...(TYPES.includes(field.kind) ? [] : [field.kind])].map((t) => [t, say(t)]),
          change((v) => (field.kind = v)), "field-type"),
        input(say("Required"), field.required, change((v) => (field.required = v)), { props: { type: "checkbox", name: "field-required" } }),
      );
      if (field.kind === "choice") {
        const options = (field.options || optionsOf(field.prop)).map((o) => o.value + "=" + o.title).join("\n");
        row.append(input(say("Choices (value=标题, one a line)"), options, change((v) => {
          field.options = v.split("\n").map((line) => line.trim()).filter(Boolean).map((line) => {
            const [value, ...title] = line.split("=");
            return { value: value.trim(), title: (title.join("=") || value).trim() };
          });
        }), { tag: "textarea", props: { name: "field-options", rows: 3 } }));
      }
      if (field.kind === "files") {
        const chosen = new Set(field.fileTypes || (field.prop["x-material"] || {}).types || ["pdf"]);
        const box = Object.assign(document.createElement("div"), { className: "field" });
        box.append(Object.assign(document.createElement("span"), { className: "label", textContent: say("Allowed files") }));
        FILE_TYPES.forEach((type) => box.append(input(type, chosen.has(type), change((on) => {
          on ? chosen.add(type) : chosen.delete(type);
          field.fileTypes = [...chosen];
        }), { props: { type: "checkbox" } })));
        row.append(box);
      }
      const deciders = fields.filter((f) => f !== field && (f.kind === "choice" || f.kind === "yes/no"));
      if (deciders.length) {
        row.append(select(say("Only when"), field.when ? field.when.field : "", [["", say("always")], ...deciders.map((f) => [f.name, f.prop.title || f.name])],
          change((v) => (field.when = v ? { field: v, values: field.when && field.when.field === v ? field.when.values : [] } : null)), "field-when"));
        if (field.when) {
          const decider = fields.find((f) => f.name === field.when.field);
          const values = decider && decider.kind === "yes/no" ? [["true", "是"], ["false", "否"]]
            : (decider ? (decider.options || optionsOf(decider.prop)).map((o) => [o.value, o.title]) : []);
          row.append(select(say("equals"), field.when.values.length ? String(field.when.values[0]) : "", [["", ""], ...values],
            change((v) => (field.when.values = v === "" ? [] : [decider && decider.kind === "yes/no" ? v === "true" : v])), "field-when-value"));
        }
      }
      row.append(
        button("Up", () => { if (index > 0) { fields.splice(index - 1, 0, fields.splice(index, 1)[0]); write(); render(); } }),
        button("Down", () => { if (index < fields.length - 1) { fields.splice(index + 1, 0, fields.splice(index, 1)[0]); write(); render(); } }),
        button("Remove", () => { fields.splice(index, 1); write(); render(); }),
      );
      host.appendChild(row);
    });
  }

  document.getElementById("add-field").addEventListener("click", () => {
    let n = fields.length + 1;
    while (fields.some((f) => f.name === "field_" + n)) n += 1;
    fields.push({ name: "field_" + n, prop: { title: "" }, kind: "text", required: false, when: null });
    write();
    render();
  });
  textarea.addEventListener("change", () => {  // the JSON edited by hand: the fields follow it
    try {
      read(textarea.value);
      render();
    } catch (error) {
      return;  // not JSON yet: the server says why on saving
    }
    preview();
  });
  read(textarea.value);
  render();
})();
