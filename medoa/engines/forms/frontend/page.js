// The page glue every page around a MedOA form viewer needs (the form engine's fill and record
// pages, static/forms/fill.js; the process start and task pages, static/flow/form.js; the approval
// centre's start page, approvals/static/approvals/start.js): the data the page carries in
// <script type="application/json"> blocks (json_script: data, not code, so the CSP allows them),
// the field types' settings from the page, the status line, the list of errors no field carries,
// the first error brought into view, the JSON post, and the submit that goes through the viewer.

/** The JSON in the <script type="application/json"> element ``id``; ``fallback`` if absent, null or unreadable. */
export function readJson(id, fallback) {
  const element = document.getElementById(id);
  if (!element) {
    return fallback;
  }
  try {
    const value = JSON.parse(element.textContent);
    return value === null ? fallback : value;
  } catch (err) {
    return fallback;
  }
}

/** The page's CSRF token (Django's csrfmiddlewaretoken input), '' if it has none. */
export function csrfToken() {
  const input = document.querySelector('input[name="csrfmiddlewaretoken"]');
  return input ? input.value : '';
}

/**
 * The field types' settings (for configure()) from the page: ``dataset`` (the form root's data-*
 * attributes: language, staff/department search URLs, upload and download URLs) and the names of
 * the values already in the data (the JSON block ``namesId``: {staff, departments, attachments}).
 */
export function pageSettings(dataset, namesId) {
  const names = readJson(namesId, {});
  return {
    language: dataset.language,
    csrfToken: csrfToken(),
    staffSearchUrl: dataset.staffSearchUrl,
    departmentSearchUrl: dataset.departmentSearchUrl,
    uploadUrl: dataset.uploadUrl,
    downloadUrl: dataset.downloadUrl,
    staff: names.staff || {},
    departments: names.departments || {},
    attachments: names.attachments || {},
  };
}

/** A function (text, kind) that writes the status line ``element`` (kind: 'error' or none). */
export function statusWriter(element) {
  return function setStatus(text, kind) {
    element.textContent = text || '';
    element.className = 'forms-status' + (kind ? ' forms-status-' + kind : '');
  };
}

/**
 * A function (errors) that lists ``errors`` ([{field, message}]) in the list ``element``, each
 * with its field's label (``labelOf(field)``), and hides the list when there are none.
 */
export function errorLister(element, labelOf) {
  return function listErrors(errors) {
    element.replaceChildren();
    errors.forEach(function (error) {
      const item = document.createElement('li');
      item.dataset.field = error.field || '';
      const label = error.field ? labelOf(error.field) : '';
      item.textContent = label ? label + '：' + error.message : error.message;
      element.append(item);
    });
    element.hidden = errors.length === 0;
  };
}

/** Scroll the first element ``selector`` finds in ``scope`` into view and focus its first input. */
export function focusFirstError(scope, selector) {
  const element = scope.querySelector(selector);
  if (element) {
    element.scrollIntoView({ block: 'center' });
    const input = element.querySelector('input, textarea, select, button');
    if (input) {
      input.focus({ preventScroll: true });
    }
  }
}

/**
 * POST ``body`` as JSON to ``url`` with the page's CSRF token; the answer's JSON. Throws
 * Error(``failedMessage`` + ' (status)') when the answer is not JSON.
 */
export async function postJson(url, body, failedMessage) {
  const response = await fetch(url, {
    method: 'POST',
    body: JSON.stringify(body),
    credentials: 'same-origin',
    headers: {
      'X-CSRFToken': csrfToken(),
      'Content-Type': 'application/json',
      Accept: 'application/json',
    },
  });
  let answer = null;
  try {
    answer = await response.json();
  } catch (err) {
    answer = null;
  }
  if (!answer) {
    throw new Error(failedMessage + ' (' + response.status + ')');
  }
  return answer;
}

/**
 * Send a form page's data. Every submit goes through ``viewer`` (the page's ``button``, or a
 * submit button inside the schema): the viewer's own checks run first (the same rules; the server
 * checks again and decides); then {data: ``body(values)``, version} is posted as JSON to
 * ``dataset.postUrl``. An answer ``ok`` sends the browser to ``next(answer)``; any other is handed
 * to ``showErrors(answer)``, which shows the server's errors and returns the status line's text.
 * ``dataset`` (the form root's data-* attributes) carries the version and the texts msgFix,
 * msgSending and msgFailed; ``firstError()`` brings the first error into view.
 */
export function submitThrough({
  viewer,
  button,
  dataset,
  setStatus,
  listErrors,
  firstError,
  body,
  next,
  showErrors,
}) {
  let busy = false;

  async function send(result) {
    listErrors([]);
    if (Object.keys(result.errors || {}).length) {
      setStatus(dataset.msgFix, 'error');
      firstError();
      return;
    }
    busy = true;
    button.disabled = true;
    setStatus(dataset.msgSending);
    try {
      const answer = await postJson(
        dataset.postUrl,
        { data: body(result.data), version: Number(dataset.version) },
        dataset.msgFailed,
      );
      if (answer.ok) {
        window.location.assign(next(answer));
        return;
      }
      setStatus(showErrors(answer), 'error');
      firstError();
    } catch (err) {
      setStatus(err.message || dataset.msgFailed, 'error');
    } finally {
      busy = false;
      button.disabled = false;
    }
  }

  viewer.on('submit', function (event) {
    if (!busy) {
      send(event);
    }
  });
  button.addEventListener('click', function () {
    if (!busy) {
      viewer.submit();
    }
  });
}
