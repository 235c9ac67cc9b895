// The decision table editor (dmn-js), bundled by esbuild with Inferno's production build
// (process.env.NODE_ENV=production): the page script (static/decision.js) builds the modeler for
// owners and the viewer for everyone else from window.ApprovalsDecision.
import DmnModeler from "dmn-js/lib/Modeler";
import DmnViewer from "dmn-js/lib/Viewer";

window.ApprovalsDecision = { Modeler: DmnModeler, Viewer: DmnViewer };
