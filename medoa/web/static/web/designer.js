// What every designer page does the same way around its editor (the form designer,
// forms/designer.js; the process designer, flow/designer.js): the download of what is on the
// screen as a file, and the browser's warning before leaving with unsaved changes.
// A plain script (CSP script-src 'self'): it sets window.MedoaDesigner for the page's own script.
(function () {
  'use strict';

  /** Offer ``text`` as a download named ``filename`` (of MIME type ``type``). */
  function download(text, type, filename) {
    const blob = new Blob([text], { type: type });
    const link = document.createElement('a');
    link.href = URL.createObjectURL(blob);
    link.download = filename;
    document.body.append(link);
    link.click();
    link.remove();
    setTimeout(function () {
      URL.revokeObjectURL(link.href);
    }, 1000);
  }

  /** Ask before the page is left while ``isDirty()`` says there are unsaved changes. */
  function guardUnsaved(isDirty, message) {
    window.addEventListener('beforeunload', function (event) {
      if (isDirty()) {
        event.preventDefault();
        event.returnValue = message;
      }
    });
  }

  window.MedoaDesigner = { download: download, guardUnsaved: guardUnsaved };
})();
