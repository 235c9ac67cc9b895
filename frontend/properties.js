// The approvals properties of a BPMN element, in the properties panel: what a step needs to run
// here and what owners could only change in the XML before. The page gives the pickers' choices
// (agencies, forms, published processes) and the words in its language (window.approvalsPanel).
// Problems the server's check found on the selected element are listed at the top of its panel.
import { h } from "@bpmn-io/properties-panel/preact";
import {
  CheckboxEntry,
  DescriptionEntry,
  SelectEntry,
  TextAreaEntry,
  TextFieldEntry,
  isCheckboxEntryEdited,
  isSelectEntryEdited,
  isTextAreaEntryEdited,
  isTextFieldEntryEdited,
} from "@bpmn-io/properties-panel";
import { useService } from "bpmn-js-properties-panel";
import { getBusinessObject, is } from "bpmn-js/lib/util/ModelUtil";

const TIME_LIMIT = /^([1-9][0-9]{0,3})(WD|CD)$/;  // the server's rule (engine/lint.py)
const HUMAN = ["bpmn:UserTask", "bpmn:ManualTask"];

function page() {
  return window.approvalsPanel || { words: {}, agencies: [], forms: [], processes: [], problems: {} };
}

function say(text) {
  return page().words[text] || text;
}

// -- the SpiffWorkflow extension elements ------------------------------------------------------

function extension(bo, type) {
  const ext = bo.get("extensionElements");
  return ext ? ext.get("values").find((value) => is(value, type)) : undefined;
}

function property(bo, name) {
  const props = extension(bo, "spiffworkflow:Properties");
  const found = props ? props.get("properties").find((p) => p.name === name) : undefined;
  return found ? found.value : "";
}

function ensureExtensions(element, bo, { bpmnFactory, modeling }) {
  let ext = bo.get("extensionElements");
  if (!ext) {
    ext = bpmnFactory.create("bpmn:ExtensionElements", { values: [] });
    modeling.updateProperties(element, { extensionElements: ext });
  }
  return ext;
}

function setProperty(element, name, value, services) {
  const { bpmnFactory, modeling } = services;
  const bo = getBusinessObject(element);
  const ext = ensureExtensions(element, bo, services);
  let props = extension(bo, "spiffworkflow:Properties");
  if (!props) {
    if (!value) return;
    props = bpmnFactory.create("spiffworkflow:Properties", { properties: [] });
    modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), props] });
  }
  const existing = props.get("properties").find((p) => p.name === name);
  if (!value) {
    if (existing) modeling.updateModdleProperties(element, props, { properties: props.get("properties").filter((p) => p !== existing) });
  } else if (existing) {
    modeling.updateModdleProperties(element, existing, { value });
  } else {
    const created = bpmnFactory.create("spiffworkflow:Property", { name, value });
    modeling.updateModdleProperties(element, props, { properties: [...props.get("properties"), created] });
  }
}

function setBody(element, type, value, services) {
  const { bpmnFactory, modeling } = services;
  const bo = getBusinessObject(element);
  const ext = ensureExtensions(element, bo, services);
  const existing = extension(bo, type);
  if (!value) {
    if (existing) modeling.updateModdleProperties(element, ext, { values: ext.get("values").filter((v) => v !== existing) });
  } else if (existing) {
    modeling.updateModdleProperties(element, existing, { value });
  } else {
    modeling.updateModdleProperties(element, ext, { values: [...ext.get("values"), bpmnFactory.create(type, { value })] });
  }
}

function useServices() {
  return { bpmnFactory: useService("bpmnFactory"), modeling: useService("modeling") };
}

// -- entries ---------------------------------------------------------------------------------

function choices(list, none) {
  return () => [{ value: "", label: none }, ...list.map((c) => ({ value: c.value, label: c.label }))];
}

function LaneAgency({ element }) {
  const { modeling } = useServices();
  const agencies = page().agencies.map((a) => ({ value: a.code, label: a.code + " · " + a.name }));
  return h(SelectEntry, {
    id: "approvals-agency", element, label: say("Agency"),
    getValue: () => getBusinessObject(element).name || "",
    setValue: (value) => modeling.updateProperties(element, { name: value }),
    getOptions: choices(agencies, say("(routed by expression)")),
  });
}

function PropertyText({ element, name, label, validate, area }) {
  const services = useServices();
  const debounce = useService("debounceInput");
  return h(area ? TextAreaEntry : TextFieldEntry, {
    id: "approvals-" + name, element, label, debounce, validate,
    getValue: () => property(getBusinessObject(element), name),
    setValue: (value) => setProperty(element, name, (value || "").trim(), services),
  });
}

const NEW_FORM = "\u0000new";

async function newForm() {
  // A new, empty form is published with the model's latest version (the draft here is kept) and
  // designed on its own page afterwards.
  const name = window.prompt(say("Name of the new form (e.g. site_visit)"));
  if (!name) return null;
  const csrf = document.querySelector("meta[name=csrf-token]").content;
  const reply = await fetch(page().newFormUrl, {
    method: "POST", body: JSON.stringify({ name }), headers: { "Content-Type": "application/json", "X-CSRFToken": csrf },
  });
  const answer = await reply.json();
  if (!reply.ok) {
    window.alert(answer.message);
    return null;
  }
  page().forms.push(answer.name);
  return answer.name;
}

function StepForm({ element }) {
  const services = useServices();
  const forms = page().forms.map((name) => ({ value: name, label: name }));
  return h(SelectEntry, {
    id: "approvals-form", element, label: say("Form"),
    getValue: () => (extension(getBusinessObject(element), "spiffworkflow:FormJsonSchemaFilename") || {}).value || "",
    setValue: (value) => {
      if (value !== NEW_FORM) return setBody(element, "spiffworkflow:FormJsonSchemaFilename", value, services);
      newForm().then((name) => name && setBody(element, "spiffworkflow:FormJsonSchemaFilename", name, services));
    },
    getOptions: () => [...choices(forms, say("(no form)"))(), { value: NEW_FORM, label: say("New form…") }],
  });
}

function TimerHint({ element }) {
  return h(DescriptionEntry, {
    id: "approvals-timer-hint", element,
    value: say("A timer may count working days: workdays_after(5) is the end of the 5th working day from now."),
  });
}

function ClockStopped({ element }) {
  const services = useServices();
  return h(CheckboxEntry, {
    id: "approvals-clock", element, label: say("Clock stopped (not counted against the statutory limit)"),
    getValue: () => property(getBusinessObject(element), "clock") === "stopped",
    setValue: (checked) => setProperty(element, "clock", checked ? "stopped" : "", services),
  });
}

function FlowCondition({ element }) {
  const { bpmnFactory, modeling } = useServices();
  const debounce = useService("debounceInput");
  return h(TextAreaEntry, {
    id: "approvals-condition", element, debounce, label: say("Condition (a Python expression)"),
    getValue: () => {
      const expression = getBusinessObject(element).get("conditionExpression");
      return expression ? expression.get("body") || "" : "";
    },
    setValue: (value) => {
      const body = (value || "").trim();
      const expression = body ? bpmnFactory.create("bpmn:FormalExpression", { body }) : undefined;
      modeling.updateProperties(element, { conditionExpression: expression });
    },
  });
}

function DefaultFlow({ element }) {
  const { modeling } = useServices();
  const registry = useService("elementRegistry");
  const source = element.source;
  return h(CheckboxEntry, {
    id: "approvals-default", element, label: say("Default flow (taken when no condition holds)"),
    getValue: () => getBusinessObject(source).get("default") === getBusinessObject(element),
    setValue: (checked) =>
      modeling.updateProperties(registry.get(source.id), { default: checked ? getBusinessObject(element) : undefined }),
  });
}

function CalledProcess({ element }) {
  const { modeling } = useServices();
  const processes = page().processes.map((p) => ({ value: p.key, label: p.key + " · " + p.name }));
  return h(SelectEntry, {
    id: "approvals-called", element, label: say("Called process"),
    getValue: () => getBusinessObject(element).get("calledElement") || "",
    setValue: (value) => modeling.updateProperties(element, { calledElement: value || undefined }),
    getOptions: choices(processes, say("(none)")),
  });
}

function Problem({ element, id, text }) {
  return h(DescriptionEntry, { id, element, value: text });
}

// -- the provider ----------------------------------------------------------------------------

function timeLimitProblem(value) {
  return !value || TIME_LIMIT.test(value) ? null : say("a number of days and WD (working days) or CD (calendar days), e.g. 20WD");
}

function entriesFor(element) {
  const entries = [];
  const add = (id, component, isEdited, extra) => entries.push({ id, element, component, isEdited, ...extra });
  if (is(element, "bpmn:Lane")) {
    add("approvals-agency", LaneAgency, isSelectEntryEdited);
    add("approvals-routing", (props) => h(PropertyText, { ...props, name: "routing", label: say("Routing expression (reads project)"), area: true }), isTextAreaEntryEdited);
  }
  if (HUMAN.some((type) => is(element, type))) {
    add("approvals-form", StepForm, isSelectEntryEdited);
    add("approvals-time_limit", (props) => h(PropertyText, { ...props, name: "time_limit", label: say("Time limit"), validate: timeLimitProblem }), isTextFieldEntryEdited);
    add("approvals-clock", ClockStopped, isCheckboxEntryEdited);
    add("approvals-four_eyes", (props) => h(PropertyText, { ...props, name: "four_eyes", label: say("Four eyes: earlier steps whose completer may not do this one") }), isTextFieldEntryEdited);
  }
  if (is(element, "bpmn:SequenceFlow") && element.source &&
      (is(element.source, "bpmn:ExclusiveGateway") || is(element.source, "bpmn:InclusiveGateway"))) {
    add("approvals-condition", FlowCondition, isTextAreaEntryEdited);
    add("approvals-default", DefaultFlow, isCheckboxEntryEdited);
  }
  if (is(element, "bpmn:CallActivity")) {
    add("approvals-called", CalledProcess, isSelectEntryEdited);
  }
  const definitions = getBusinessObject(element).get ? getBusinessObject(element).get("eventDefinitions") : null;
  if ((definitions || []).some((d) => is(d, "bpmn:TimerEventDefinition"))) {
    add("approvals-timer-hint", TimerHint, () => false);
  }
  return entries;
}

class ApprovalsPropertiesProvider {
  constructor(propertiesPanel) {
    propertiesPanel.registerProvider(400, this);
  }

  getGroups(element) {
    return (groups) => {
      const problems = page().problems[element.id] || [];
      if (problems.length) {
        groups.unshift({
          id: "approvals-problems",
          label: say("Problems"),
          entries: problems.map((text, index) => ({
            id: "approvals-problem-" + index, element, text,
            component: (props) => h(Problem, { ...props, id: "approvals-problem-" + index, text }),
          })),
        });
      }
      const entries = entriesFor(element);
      if (entries.length) {
        const at = groups.findIndex((group) => group.id === "general");
        groups.splice(at + 1, 0, { id: "approvals", label: say("Approvals"), entries });
      }
      return groups;
    };
  }
}
ApprovalsPropertiesProvider.$inject = ["propertiesPanel"];

// diagram-js's `translate` service: the panel's, palette's and context pad's words in the page's
// language where the page gives them (the rest stay English).
function translate(template, replacements = {}) {
  return say(template).replace(/{([^}]+)}/g, (_, key) => (key in replacements ? replacements[key] : "{" + key + "}"));
}

export default {
  __init__: ["approvalsPropertiesProvider"],
  approvalsPropertiesProvider: ["type", ApprovalsPropertiesProvider],
  translate: ["value", translate],
};
