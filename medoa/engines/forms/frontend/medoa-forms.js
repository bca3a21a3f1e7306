// The esbuild entry of MedOA's form bundle: one IIFE file (global `MedoaForms`) with the form-js
// editor (palette, canvas, properties panel) and viewer, MedOA's field types (staff, department,
// attachment, handwritten signature), Chinese texts, and the helper that puts the server's
// per-field errors beside their fields.
// Built by scripts/vendor_static.py into medoa/web/static/vendor/forms/medoa-forms.min.js.
import { FormEditor } from '@bpmn-io/form-js-editor';
import { Form } from '@bpmn-io/form-js-viewer';

import { h } from 'preact';

import { MEDOA_FIELDS, downloadUrl, settings } from './fields.js';
import { editorTexts, typeNames, typeNamesEn, validationTexts, viewerPatterns, viewerTexts } from './i18n-zh.js';
import { pageSettings } from './page.js';

function isChinese(language) {
  return !(language || settings.language || '').toLowerCase().startsWith('en');
}

/** Page settings for the field types: URLs, CSRF token, language, names of existing values. */
export function configure(options) {
  for (const [name, value] of Object.entries(options || {})) {
    if (value && typeof value === 'object' && !Array.isArray(value) && typeof settings[name] === 'object') {
      Object.assign(settings[name], value);
    } else if (value !== undefined) {
      settings[name] = value;
    }
  }
}

/** configure() from the page: the form root's data-* attributes and the names' JSON block. */
export function configurePage(dataset, namesId) {
  configure(pageSettings(dataset, namesId));
}

export {
  csrfToken,
  errorLister,
  focusFirstError,
  postJson,
  readJson,
  statusWriter,
  submitThrough,
} from './page.js';

// --- modules ------------------------------------------------------------------------------------

function MedoaFields(formFields) {
  MEDOA_FIELDS.forEach((field) => formFields.register(field.config.type, field));
}
MedoaFields.$inject = ['formFields'];

const medoaFieldsModule = { __init__: ['medoaFields'], medoaFields: ['type', MedoaFields] };

// Our CSP refuses style="" attributes and <style> elements in markup, and images from other
// origins. A schema's HTML and Markdown content may carry them (form-js's own examples do): drop
// them before form-js parses the content, so the page shows the rest without CSP violations; an
// image from another origin is not loaded (its alt text stays). FEEL/template expressions are
// evaluated later by form-js and left alone.
const STYLE_ATTRIBUTE = /\sstyle\s*=\s*("[^"]*"|'[^']*'|[^\s>]+)/gi;
const STYLE_ELEMENT = /<style[\s\S]*?(<\/style\s*>|$)/gi;

function withoutStyles(text) {
  return typeof text === 'string' ? text.replace(STYLE_ELEMENT, '').replace(STYLE_ATTRIBUTE, '') : text;
}

function isForeignUrl(source) {
  if (typeof source !== 'string' || source.startsWith('=') || !/^[a-z][a-z0-9+.-]*:/i.test(source)) {
    return false; // an expression, a template or a relative URL
  }
  if (/^(data|blob):/i.test(source)) return false;
  try {
    return new URL(source).origin !== window.location.origin;
  } catch (err) {
    return true;
  }
}

const CSP_CLEANERS = {
  html: (field) => ({ ...field, content: withoutStyles(field.content) }),
  text: (field) => ({ ...field, text: withoutStyles(field.text) }),
  image: (field) => (isForeignUrl(field.source) ? { ...field, source: undefined } : field),
};

function CspSafeFields(formFields) {
  for (const [type, clean] of Object.entries(CSP_CLEANERS)) {
    const Original = formFields.get(type);
    if (!Original) continue;
    const cleaned = new WeakMap(); // one cleaned copy per field object: stable props for preact
    const Safe = function (props) {
      let field = cleaned.get(props.field);
      if (!field) {
        field = clean(props.field);
        cleaned.set(props.field, field);
      }
      return h(Original, { ...props, field });
    };
    Safe.config = Original.config;
    formFields.register(type, Safe);
  }
}
CspSafeFields.$inject = ['formFields'];

const cspSafeModule = { __init__: ['medoaCspSafeFields'], medoaCspSafeFields: ['type', CspSafeFields] };

// Palette names (and the label a new field starts with) in the page's language.
function fieldNamesModule(language) {
  const names = isChinese(language) ? typeNames : typeNamesEn;
  function FieldNames(formFields) {
    for (const [type, field] of Object.entries(formFields._formFields)) {
      const name = names[type];
      if (!name || !field.config) continue;
      const config = field.config;
      const englishName = config.name || config.label;
      const create = config.create;
      field.config = {
        ...config,
        name,
        create: (options = {}) => {
          const made = create ? create(options) : { ...options };
          if (!('label' in options) && made.label === englishName) {
            made.label = name;
          }
          return made;
        },
      };
    }
  }
  FieldNames.$inject = ['formFields'];
  return { __init__: ['medoaFieldNames'], medoaFieldNames: ['type', FieldNames] };
}

function translateMessage(message) {
  for (const [pattern, text] of validationTexts) {
    if (pattern.test(message)) return message.replace(pattern, text);
  }
  return message;
}

// The viewer's validation messages in Chinese: wrap the validator's two entry points.
function validatorTextsModule() {
  function ValidatorTexts(validator) {
    for (const method of ['validateField', 'validateFieldInstance']) {
      const original = validator[method];
      if (typeof original !== 'function') continue;
      validator[method] = function (...args) {
        return original.apply(this, args).map(translateMessage);
      };
    }
  }
  ValidatorTexts.$inject = ['validator'];
  return { __init__: ['medoaValidatorTexts'], medoaValidatorTexts: ['type', ValidatorTexts] };
}

// --- the editor's fixed texts, translated where they appear ---------------------------------------

const ATTRIBUTES = ['placeholder', 'title', 'aria-label'];

// a dictionary's translation of ``text``: its own entry, else the first of its patterns
// (``dictionary[PATTERNS]``: [regex, replacement]) that matches
const PATTERNS = Symbol('patterns');

function lookup(dictionary, text) {
  if (!text) return undefined;
  if (Object.prototype.hasOwnProperty.call(dictionary, text)) return dictionary[text];
  for (const [re, out] of dictionary[PATTERNS] || []) {
    if (re.test(text)) return text.replace(re, out);
  }
  return undefined;
}

function translateAttributes(element, dictionary) {
  for (const name of ATTRIBUTES) {
    const value = element.getAttribute(name);
    const translated = value && lookup(dictionary, value.trim());
    if (translated && translated !== value) element.setAttribute(name, translated);
  }
}

function translateNode(node, dictionary) {
  if (node.nodeType === Node.TEXT_NODE) {
    const text = node.data.trim();
    const translated = lookup(dictionary, text);
    if (translated && translated !== text) {
      node.data = node.data.replace(text, translated);
    }
    return;
  }
  if (node.nodeType !== Node.ELEMENT_NODE) return;
  translateAttributes(node, dictionary);
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT | NodeFilter.SHOW_ELEMENT);
  let current = walker.nextNode();
  while (current) {
    if (current.nodeType === Node.TEXT_NODE) {
      translateNode(current, dictionary);
    } else {
      translateAttributes(current, dictionary);
    }
    current = walker.nextNode();
  }
}

/** Keep the fixed English texts under ``root`` translated (palette, properties panel). */
export function translateDom(root, dictionary) {
  translateNode(root, dictionary);
  const observer = new MutationObserver((mutations) => {
    for (const mutation of mutations) {
      if (mutation.type === 'characterData') {
        translateNode(mutation.target, dictionary);
      } else if (mutation.type === 'attributes') {
        const value = mutation.target.getAttribute(mutation.attributeName);
        const translated = value && lookup(dictionary, value.trim());
        if (translated && translated !== value) mutation.target.setAttribute(mutation.attributeName, translated);
      } else {
        mutation.addedNodes.forEach((node) => translateNode(node, dictionary));
      }
    }
  });
  observer.observe(root, {
    subtree: true,
    childList: true,
    characterData: true,
    attributes: true,
    attributeFilter: ATTRIBUTES,
  });
  return observer;
}

// --- public constructors -------------------------------------------------------------------------

export function createDesigner({ container, language }) {
  const editor = new FormEditor({
    container,
    additionalModules: [medoaFieldsModule, cspSafeModule, fieldNamesModule(language)],
    exporter: { name: 'MedOA', version: '1' },
  });
  if (isChinese(language)) {
    const root = typeof container === 'string' ? document.querySelector(container) : container;
    translateDom(root, editorTexts);
  }
  return editor;
}

const viewerDictionary = { ...viewerTexts, [PATTERNS]: viewerPatterns };

export function createViewer({ container, language, readOnly }) {
  const modules = [medoaFieldsModule, cspSafeModule];
  if (isChinese(language)) modules.push(validatorTextsModule());
  const form = new Form({ container, additionalModules: modules, properties: readOnly ? { readOnly: true } : {} });
  if (isChinese(language)) {
    const root = typeof container === 'string' ? document.querySelector(container) : container;
    if (root) translateDom(root, viewerDictionary);
  }
  return form;
}

// --- the server's errors beside their fields -----------------------------------------------------

// "items[2].amount" → ["items", 2, "amount"]
export function parsePath(path) {
  const parts = [];
  String(path || '')
    .split('.')
    .forEach((segment) => {
      const re = /([^[\]]+)|\[(\d+)\]/g;
      let match = re.exec(segment);
      while (match) {
        parts.push(match[2] !== undefined ? Number(match[2]) : match[1]);
        match = re.exec(segment);
      }
    });
  return parts;
}

function samePath(a, b) {
  return a.length === b.length && a.every((part, i) => String(part) === String(b[i]));
}

/**
 * Show ``errors`` ([{field, code, message}], field a data path) beside their fields in ``form``.
 * Returns the errors no rendered field carries (shown elsewhere by the page).
 */
export function showServerErrors(form, errors) {
  const instances = form.get('formFieldInstanceRegistry').getAllKeyed();
  const state = {};
  const unplaced = [];
  for (const error of errors || []) {
    const path = parsePath(error.field);
    const instance = path.length ? instances.find((i) => samePath(i.valuePath || [], path)) : null;
    if (!instance) {
      unplaced.push(error);
      continue;
    }
    const keys = [instance.id, ...Object.values(instance.indexes || {})];
    let node = state;
    keys.slice(0, -1).forEach((key) => {
      node[key] = node[key] || {};
      node = node[key];
    });
    const last = keys[keys.length - 1];
    node[last] = [...(Array.isArray(node[last]) ? node[last] : []), error.message];
  }
  form._setState({ errors: state });
  return unplaced;
}

/** The label of the field at data path ``path`` (for errors listed away from their field). */
export function labelFor(form, path) {
  const parts = parsePath(path);
  const registry = form.get('formFieldRegistry');
  const instance = form
    .get('formFieldInstanceRegistry')
    .getAllKeyed()
    .find((i) => samePath(i.valuePath || [], parts));
  const field = instance && registry.get(instance.id);
  return (field && field.label) || path;
}

export { downloadUrl };
