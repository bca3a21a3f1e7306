// The esbuild entry of MedOA's DMN bundle: one IIFE file (global `MedoaDmn`) with the dmn-js
// modeler (DRD, decision table and literal expression editors).
// Built by scripts/vendor_static.py into medoa/web/static/vendor/dmn/medoa-dmn.min.js.
import DmnModeler from 'dmn-js/lib/Modeler';

import { zh } from './i18n-zh.js';

function dictionaryFor(language) {
  return (language || '').toLowerCase().startsWith('zh') ? zh : null;
}

// dmn-js looks labels up through its `translate` service in every editor: replace it with a
// dictionary lookup (unknown strings stay English) and the usual `{placeholder}` substitution.
function translateModule(dictionary) {
  function translate(template, replacements) {
    const text = (dictionary && dictionary[template]) || template;
    const values = replacements || {};
    return text.replace(/{([^}]+)}/g, (match, key) => (key in values ? values[key] : match));
  }
  return { translate: ['value', translate] };
}

export function createEditor({ container, language, keyboardTarget }) {
  // dmn-js gives each editor its own `additionalModules` (those under `common` are not merged)
  const translation = translateModule(dictionaryFor(language));
  const editor = { additionalModules: [translation] };
  return new DmnModeler({
    container,
    common: { keyboard: keyboardTarget ? { bindTo: keyboardTarget } : undefined },
    drd: editor,
    decisionTable: editor,
    literalExpression: editor,
    boxedExpression: editor,
  });
}
