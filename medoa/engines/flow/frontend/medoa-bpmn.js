// The esbuild entry of MedOA's BPMN bundle: one IIFE file (global `MedoaBpmn`) with the bpmn-js
// modeler, the properties panel with the Camunda 7 extensions (assignee, candidate users/groups,
// form key, due date, multi-instance, conditions), the Camunda behaviours that keep those
// attributes consistent, the navigated viewer and bpmn-auto-layout for files without DI.
// Built by scripts/vendor_static.py into medoa/web/static/vendor/bpmn/medoa-bpmn.min.js.
import BpmnModeler from 'bpmn-js/lib/Modeler';
import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';
import {
  BpmnPropertiesPanelModule,
  BpmnPropertiesProviderModule,
  CamundaPlatformPropertiesProviderModule,
} from 'bpmn-js-properties-panel';
import CamundaBehaviorsModule from 'camunda-bpmn-js-behaviors/lib/camunda-platform';
import camundaModdle from 'camunda-bpmn-moddle/resources/camunda.json';
import { layoutProcess } from 'bpmn-auto-layout';

import { zh } from './i18n-zh.js';

function dictionaryFor(language) {
  return (language || '').toLowerCase().startsWith('zh') ? zh : null;
}

// bpmn-js looks labels up through its `translate` service; replace it with a dictionary lookup
// (unknown strings stay English) and the usual `{placeholder}` substitution.
function translateModule(dictionary) {
  function translate(template, replacements) {
    const text = (dictionary && dictionary[template]) || template;
    const values = replacements || {};
    return text.replace(/{([^}]+)}/g, (match, key) => (key in values ? values[key] : match));
  }
  return { translate: ['value', translate] };
}

export function createDesigner({ container, propertiesParent, language, keyboardTarget }) {
  return new BpmnModeler({
    container,
    keyboard: keyboardTarget ? { bindTo: keyboardTarget } : undefined,
    propertiesPanel: { parent: propertiesParent },
    additionalModules: [
      BpmnPropertiesPanelModule,
      BpmnPropertiesProviderModule,
      CamundaPlatformPropertiesProviderModule,
      CamundaBehaviorsModule,
      translateModule(dictionaryFor(language)),
    ],
    moddleExtensions: { camunda: camundaModdle },
  });
}

export function createViewer({ container, language }) {
  return new NavigatedViewer({
    container,
    additionalModules: [translateModule(dictionaryFor(language))],
    moddleExtensions: { camunda: camundaModdle },
  });
}

// True when the XML carries diagram interchange (shapes to draw); bpmn-js cannot show it otherwise.
export function hasDiagram(xml) {
  return /<([A-Za-z_][\w.-]*:)?BPMNShape[\s>/]/.test(xml || '');
}

export { layoutProcess };
