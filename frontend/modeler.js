// The process owners' modeler, bundled by esbuild (npm run build): bpmn-js with the properties
// panel, the moddle descriptor of the SpiffWorkflow extensions our models use, and the approvals
// properties (properties.js). The page script (static/modeler.js) builds it from window.ApprovalsModeler.
import BpmnModeler from "bpmn-js/lib/Modeler";
import { BpmnPropertiesPanelModule, BpmnPropertiesProviderModule } from "bpmn-js-properties-panel";
import ApprovalsPropertiesModule from "./properties.js";
import spiffworkflow from "./spiffworkflow.json";

window.ApprovalsModeler = {
  create(options) {
    return new BpmnModeler({
      ...options,
      additionalModules: [BpmnPropertiesPanelModule, BpmnPropertiesProviderModule, ApprovalsPropertiesModule],
      moddleExtensions: { spiffworkflow },
    });
  },
};
