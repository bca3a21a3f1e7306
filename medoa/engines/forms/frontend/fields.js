// MedOA's own field types for the form-js editor and viewer:
//   medoa-staff       a person from the staff directory; value: the staff id (integer)
//   medoa-department  a department; value: the department code (string)
//   medoa-attachment  uploaded files; value: a list of attachment tokens (strings)
//   medoa-signature   a handwritten signature drawn on a canvas, uploaded as a PNG attachment;
//                     value: the attachment token (string)
// The server resolves and checks every value (existing staff, department, usable attachment):
// what the browser shows here is a convenience.
//
// Rendering uses preact's `h` directly (no JSX step in the bundle). No style="" markup anywhere:
// the CSP refuses it; sizes come from medoa-forms.css.
import { h } from 'preact';
import { useEffect, useRef, useState } from 'preact/hooks';
import { Description, Errors, Label } from '@bpmn-io/form-js-viewer';

import { fieldTexts } from './i18n-zh.js';

// Set once per page by MedoaForms.configure(): URLs, the CSRF token, names of values already in
// the data (so a record shows 王医生, not 42), and the language.
export const settings = {
  language: 'zh-hans',
  csrfToken: '',
  staffSearchUrl: '',
  departmentSearchUrl: '',
  uploadUrl: '',
  downloadUrl: '', // contains the placeholder TOKEN
  staff: {}, // id → display name
  departments: {}, // code → display name
  attachments: {}, // token → file name
};

export function texts() {
  return (settings.language || '').toLowerCase().startsWith('en') ? fieldTexts.en : fieldTexts.zh;
}

function fieldClasses(type, { errors, disabled, readonly }) {
  const classes = ['fjs-form-field', 'fjs-form-field-' + type, 'medoa-field'];
  if (errors.length) classes.push('fjs-has-errors');
  if (disabled) classes.push('fjs-disabled');
  if (readonly) classes.push('fjs-readonly');
  return classes.join(' ');
}

export function downloadUrl(token) {
  return (settings.downloadUrl || '').replace('TOKEN', encodeURIComponent(token));
}

async function uploadFile(file, name) {
  const body = new FormData();
  body.append('file', file, name || file.name);
  const response = await fetch(settings.uploadUrl, {
    method: 'POST',
    body,
    credentials: 'same-origin',
    headers: { 'X-CSRFToken': settings.csrfToken, Accept: 'application/json' },
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (!response.ok || !answer || !answer.id) {
    throw new Error((answer && answer.message) || texts().uploadFailed + ' (' + response.status + ')');
  }
  settings.attachments[answer.id] = answer.name;
  return answer;
}

function frame(props, type, children) {
  const { disabled, readonly, errors = [], domId, field } = props;
  const required = !!(field.validate && field.validate.required);
  return h('div', { class: fieldClasses(type, { errors, disabled, readonly }) }, [
    h(Label, { htmlFor: domId, label: field.label, required }),
    ...children,
    h(Description, { id: domId + '-description', description: field.description }),
    h(Errors, { id: domId + '-error-message', errors }),
  ]);
}

// --- staff and department pickers --------------------------------------------------------------------

function makePicker({ type, url, names, placeholder, optionLabel, toValue }) {
  // the chip shows the name (as the record page does); the options add the department
  function Picker(props) {
    const { disabled, readonly, errors = [], domId, value, onBlur, onFocus } = props;
    const t = texts();
    const [query, setQuery] = useState('');
    const [options, setOptions] = useState(null);
    const [failed, setFailed] = useState(false);
    const timer = useRef(null);
    const locked = disabled || readonly;
    const hasValue = value !== null && value !== undefined && value !== '';

    useEffect(() => () => clearTimeout(timer.current), []);

    function search(text) {
      setQuery(text);
      clearTimeout(timer.current);
      if (!text.trim()) {
        setOptions(null);
        return;
      }
      timer.current = setTimeout(async () => {
        try {
          const response = await fetch(settings[url] + '?q=' + encodeURIComponent(text.trim()), {
            credentials: 'same-origin',
            headers: { Accept: 'application/json' },
          });
          if (!response.ok) throw new Error(String(response.status));
          const answer = await response.json();
          setFailed(false);
          setOptions(answer.results || []);
        } catch (err) {
          setFailed(true);
          setOptions([]);
        }
      }, 250);
    }

    function choose(option) {
      const chosen = toValue(option);
      settings[names][String(chosen)] = option.name;
      setQuery('');
      setOptions(null);
      props.onChange({ value: chosen });
    }

    const children = [];
    if (hasValue) {
      const shown = settings[names][String(value)] || String(value);
      children.push(
        h('div', { class: 'medoa-chosen' }, [
          h('span', { class: 'medoa-chip', 'data-value': String(value) }, shown),
          locked
            ? null
            : h(
                'button',
                { type: 'button', class: 'medoa-chip-clear', onClick: () => props.onChange({ value: null }) },
                t.clear,
              ),
        ]),
      );
    }
    if (!locked && !hasValue) {
      children.push(
        h('input', {
          class: 'fjs-input medoa-picker-input',
          id: domId,
          type: 'search',
          autocomplete: 'off',
          placeholder: t[placeholder],
          value: query,
          onInput: (event) => search(event.target.value),
          onBlur,
          onFocus,
          'aria-describedby': domId + '-error-message',
          'aria-invalid': errors.length > 0,
        }),
      );
      if (options !== null) {
        children.push(
          h(
            'ul',
            { class: 'medoa-options', role: 'listbox' },
            options.length
              ? options.map((option) =>
                  h('li', { key: String(toValue(option)) }, [
                    h(
                      'button',
                      { type: 'button', class: 'medoa-option', onClick: () => choose(option) },
                      optionLabel(option),
                    ),
                  ]),
                )
              : [h('li', { class: 'medoa-no-match' }, failed ? t.searchFailed : t.noMatch)],
          ),
        );
      }
    }
    if (locked && !hasValue) {
      children.push(h('div', { class: 'medoa-empty', id: domId }, '—'));
    }
    return frame(props, type, children);
  }
  return Picker;
}

export const StaffPicker = makePicker({
  type: 'medoa-staff',
  url: 'staffSearchUrl',
  names: 'staff',
  placeholder: 'search',
  optionLabel: (o) => (o.department ? o.name + ' · ' + o.department : o.name),
  toValue: (o) => o.id,
});
StaffPicker.config = {
  type: 'medoa-staff',
  keyed: true,
  name: 'Staff picker',
  group: 'selection',
  emptyValue: null,
  sanitizeValue: ({ value }) => (Number.isInteger(value) ? value : null),
  create: (options = {}) => ({ label: 'Staff', ...options }),
  propertiesPanelEntries: ['key', 'label', 'description', 'required', 'disabled', 'readonly'],
  icon: iconFor('M27 14a7 7 0 1 1 0 14a7 7 0 1 1 0-14zM14 42c0-7 6-11 13-11s13 4 13 11z'),
};

export const DepartmentPicker = makePicker({
  type: 'medoa-department',
  url: 'departmentSearchUrl',
  names: 'departments',
  placeholder: 'searchDepartment',
  optionLabel: (o) => o.name,
  toValue: (o) => o.code,
});
DepartmentPicker.config = {
  type: 'medoa-department',
  keyed: true,
  name: 'Department picker',
  group: 'selection',
  emptyValue: null,
  sanitizeValue: ({ value }) => (typeof value === 'string' && value ? value : null),
  create: (options = {}) => ({ label: 'Department', ...options }),
  propertiesPanelEntries: ['key', 'label', 'description', 'required', 'disabled', 'readonly'],
  icon: iconFor('M12 40V18l15-6l15 6v22zM20 24h4v4h-4zM30 24h4v4h-4zM24 32h6v8h-6z'),
};

// --- attachments -----------------------------------------------------------------------------------

export function AttachmentUpload(props) {
  const { disabled, readonly, errors = [], domId, field, onBlur } = props;
  const t = texts();
  const tokens = Array.isArray(props.value) ? props.value : [];
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const locked = disabled || readonly;

  async function onFiles(event) {
    const files = Array.from(event.target.files || []);
    event.target.value = '';
    if (!files.length) return;
    setBusy(true);
    setProblem('');
    const added = [];
    try {
      for (const file of files) {
        const answer = await uploadFile(file);
        added.push(answer.id);
      }
    } catch (err) {
      setProblem(err.message || t.uploadFailed);
    } finally {
      setBusy(false);
    }
    if (added.length) {
      props.onChange({ value: [...tokens, ...added] });
      onBlur && onBlur();
    }
  }

  const list = h(
    'ul',
    { class: 'medoa-files' },
    tokens.map((token) =>
      h('li', { key: token }, [
        h('a', { href: downloadUrl(token), class: 'medoa-file-link' }, settings.attachments[token] || t.attachment),
        locked
          ? null
          : h(
              'button',
              {
                type: 'button',
                class: 'medoa-chip-clear',
                onClick: () => props.onChange({ value: tokens.filter((x) => x !== token) }),
              },
              t.remove,
            ),
      ]),
    ),
  );
  const children = [list];
  if (!locked) {
    children.push(
      h('div', { class: 'medoa-upload' }, [
        h('input', {
          type: 'file',
          id: domId,
          class: 'medoa-file-input',
          multiple: true,
          accept: field.accept || undefined,
          disabled: busy,
          onChange: onFiles,
          'aria-describedby': domId + '-error-message',
        }),
        busy ? h('span', { class: 'medoa-busy' }, t.uploading) : null,
        problem ? h('span', { class: 'medoa-upload-problem', role: 'alert' }, problem) : null,
      ]),
    );
  }
  return frame(props, 'medoa-attachment', children);
}
AttachmentUpload.config = {
  type: 'medoa-attachment',
  keyed: true,
  name: 'Attachment upload',
  group: 'basic-input',
  emptyValue: [],
  sanitizeValue: ({ value }) => (Array.isArray(value) ? value.filter((x) => typeof x === 'string') : []),
  create: (options = {}) => ({ label: 'Attachments', ...options }),
  propertiesPanelEntries: ['key', 'label', 'description', 'required', 'disabled', 'readonly'],
  icon: iconFor('M18 12h14l8 8v22H18zM32 12v8h8M24 30l5-5l5 5M29 25v12'),
};

// --- handwritten signature -----------------------------------------------------------------------

export function SignaturePad(props) {
  const { disabled, readonly, value, onBlur } = props;
  const t = texts();
  const canvasRef = useRef(null);
  const drawing = useRef(false);
  const [inked, setInked] = useState(false);
  const [busy, setBusy] = useState(false);
  const [problem, setProblem] = useState('');
  const locked = disabled || readonly;
  const hasValue = typeof value === 'string' && value !== '';

  function point(event) {
    const canvas = canvasRef.current;
    const box = canvas.getBoundingClientRect();
    return {
      x: ((event.clientX - box.left) * canvas.width) / box.width,
      y: ((event.clientY - box.top) * canvas.height) / box.height,
    };
  }
  function start(event) {
    if (locked) return;
    const ctx = canvasRef.current.getContext('2d');
    const p = point(event);
    ctx.lineWidth = 2.5;
    ctx.lineCap = 'round';
    ctx.lineJoin = 'round';
    ctx.strokeStyle = '#111';
    ctx.beginPath();
    ctx.moveTo(p.x, p.y);
    drawing.current = true;
    canvasRef.current.setPointerCapture(event.pointerId);
    event.preventDefault();
  }
  function move(event) {
    if (!drawing.current) return;
    const ctx = canvasRef.current.getContext('2d');
    const p = point(event);
    ctx.lineTo(p.x, p.y);
    ctx.stroke();
    setInked(true);
    event.preventDefault();
  }
  function end() {
    drawing.current = false;
  }
  function clear() {
    const canvas = canvasRef.current;
    if (canvas) canvas.getContext('2d').clearRect(0, 0, canvas.width, canvas.height);
    setInked(false);
    setProblem('');
  }
  async function confirm() {
    if (!inked) {
      setProblem(t.signEmpty);
      return;
    }
    setBusy(true);
    setProblem('');
    try {
      const blob = await new Promise((resolve) => canvasRef.current.toBlob(resolve, 'image/png'));
      const answer = await uploadFile(blob, 'signature.png');
      props.onChange({ value: answer.id });
      onBlur && onBlur();
    } catch (err) {
      setProblem(err.message || t.uploadFailed);
    } finally {
      setBusy(false);
    }
  }

  const children = [];
  if (hasValue) {
    children.push(
      h('div', { class: 'medoa-signature-done' }, [
        h('img', { class: 'medoa-signature-image', src: downloadUrl(value), alt: t.signature }),
        locked
          ? null
          : h(
              'button',
              { type: 'button', class: 'medoa-chip-clear', onClick: () => props.onChange({ value: null }) },
              t.signAgain,
            ),
      ]),
    );
  } else if (locked) {
    children.push(h('div', { class: 'medoa-empty' }, '—'));
  } else {
    children.push(
      h('canvas', {
        ref: canvasRef,
        class: 'medoa-signature-pad',
        width: 600,
        height: 200,
        'aria-label': t.sign,
        onPointerDown: start,
        onPointerMove: move,
        onPointerUp: end,
        onPointerCancel: end,
      }),
      h('div', { class: 'medoa-signature-actions' }, [
        h('span', { class: 'medoa-hint' }, busy ? t.signSaving : t.sign),
        h('button', { type: 'button', class: 'medoa-chip-clear', onClick: clear, disabled: busy }, t.signClear),
        h('button', { type: 'button', class: 'medoa-sign-confirm', onClick: confirm, disabled: busy }, t.signConfirm),
        problem ? h('span', { class: 'medoa-upload-problem', role: 'alert' }, problem) : null,
      ]),
    );
  }
  return frame(props, 'medoa-signature', children);
}
SignaturePad.config = {
  type: 'medoa-signature',
  keyed: true,
  name: 'Handwritten signature',
  group: 'basic-input',
  emptyValue: null,
  sanitizeValue: ({ value }) => (typeof value === 'string' && value ? value : null),
  create: (options = {}) => ({ label: 'Signature', ...options }),
  propertiesPanelEntries: ['key', 'label', 'description', 'required', 'disabled', 'readonly'],
  icon: iconFor('M10 38c6-10 10-16 13-16c4 0-3 14 2 14c3 0 5-8 8-8c2 0 1 6 4 6c2 0 4-3 7-3M10 44h34'),
};

// a palette icon: one path on the 54×54 grid form-js uses (presentation attributes, no style="")
function iconFor(d) {
  return function Icon(props) {
    return h('svg', { ...props, xmlns: 'http://www.w3.org/2000/svg' }, [
      h('path', { d, fill: 'none', stroke: 'currentColor', 'stroke-width': '2.5', 'stroke-linejoin': 'round' }),
    ]);
  };
}

export const MEDOA_FIELDS = [StaffPicker, DepartmentPicker, AttachmentUpload, SignaturePad];
