// Finding colleagues as one types (the approval centre's /approvals/people/?q=, the directory):
// - an input with data-lookup (the balance page's person field): choosing a person puts their
//   username into the hidden input named by data-lookup-target and sends the form;
// - a textarea with data-mentions (comments): typing "@" and a few letters lists matching people;
//   choosing one writes "@username " in place of what was typed (the server notifies them).
// Arrow keys move through the list, Enter or a tap chooses, Escape closes.
(function () {
  'use strict';

  function attach(input, url, onChoose, queryOf) {
    const list = document.createElement('ul');
    list.className = 'approvals-lookup';
    list.setAttribute('role', 'listbox');
    list.hidden = true;
    input.insertAdjacentElement('afterend', list);
    input.setAttribute('aria-autocomplete', 'list');
    let items = [];
    let active = -1;
    let asked = 0;
    let timer = null;

    function close() {
      list.hidden = true;
      list.replaceChildren();
      items = [];
      active = -1;
    }
    function mark() {
      Array.from(list.children).forEach(function (li, i) {
        li.classList.toggle('active', i === active);
        li.setAttribute('aria-selected', i === active ? 'true' : 'false');
      });
    }
    function choose(i) {
      const person = items[i];
      close();
      if (person) {
        onChoose(person);
      }
    }
    function show(results) {
      list.replaceChildren();
      items = results;
      active = results.length ? 0 : -1;
      results.forEach(function (person, i) {
        const li = document.createElement('li');
        li.setAttribute('role', 'option');
        li.dataset.username = person.username;
        const name = document.createElement('strong');
        name.textContent = person.name;
        const where = document.createElement('span');
        where.className = 'muted';
        where.textContent = ' ' + (person.department || '') + ' · @' + person.username;
        li.append(name, where);
        li.addEventListener('mousedown', function (event) {
          event.preventDefault(); // keep the focus in the input
          choose(i);
        });
        list.append(li);
      });
      list.hidden = results.length === 0;
      mark();
    }
    function lookup() {
      const q = queryOf();
      if (!q) {
        close();
        return;
      }
      const mine = ++asked;
      fetch(url + '?q=' + encodeURIComponent(q), {
        credentials: 'same-origin',
        headers: { Accept: 'application/json' },
      })
        .then(function (r) {
          return r.ok ? r.json() : { results: [] };
        })
        .then(function (body) {
          if (mine === asked) {
            show(body.results || []);
          }
        })
        .catch(close);
    }
    input.addEventListener('input', function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(lookup, 200);
    });
    input.addEventListener('keydown', function (event) {
      if (list.hidden) {
        return;
      }
      if (event.key === 'ArrowDown' || event.key === 'ArrowUp') {
        event.preventDefault();
        const step = event.key === 'ArrowDown' ? 1 : -1;
        active = (active + step + items.length) % items.length;
        mark();
      } else if (event.key === 'Enter' && active >= 0) {
        event.preventDefault();
        choose(active);
      } else if (event.key === 'Escape') {
        close();
      }
    });
    input.addEventListener('blur', function () {
      window.setTimeout(close, 150);
    });
  }

  document.querySelectorAll('input[data-lookup]').forEach(function (input) {
    const target = document.getElementById(input.dataset.lookupTarget);
    attach(
      input,
      input.dataset.lookup,
      function (person) {
        input.value = person.name;
        if (target) {
          target.value = person.username;
          if (input.form) {
            input.form.submit();
          }
        }
      },
      function () {
        return input.value.trim();
      },
    );
  });

  document.querySelectorAll('textarea[data-mentions]').forEach(function (area) {
    function mention() {
      const before = area.value.slice(0, area.selectionStart);
      const match = /(^|\s)@([^\s@]{1,20})$/.exec(before);
      return match ? { text: match[2], start: before.length - match[2].length - 1 } : null;
    }
    attach(
      area,
      area.dataset.mentions,
      function (person) {
        const found = mention();
        if (!found) {
          return;
        }
        const end = found.start + found.text.length + 1;
        const insert = '@' + person.username + ' ';
        area.value = area.value.slice(0, found.start) + insert + area.value.slice(end);
        const caret = found.start + insert.length;
        area.setSelectionRange(caret, caret);
        area.focus();
      },
      function () {
        const found = mention();
        return found ? found.text : '';
      },
    );
  });
})();
