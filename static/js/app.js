// Every page's behaviour, from a file: the site's Content-Security-Policy allows scripts from
// files of this site only, so nothing lives in inline scripts or on*="" attributes.
// - the header's menu on small screens, copy buttons, confirmations before destructive forms;
// - a <select> that sends its form when it changes, a link field selected on click;
// - the keyboard for in-place editors (Rename, a transcript line's Edit and Speaker): focus goes into the
//   field when one opens, Esc cancels and Ctrl+Enter (or Cmd+Enter) saves;
// - chart bars sized from their data-width, data-left and data-height (percentages): sizes
//   set through the style property are allowed where style="" attributes are not. Content
//   swapped in later by htmx is sized too.
(function () {
  // On a phone the navigation folds behind a Menu button (CSS shows the button below 760 px).
  // Without JavaScript the button stays hidden and the navigation stays open.
  document.documentElement.classList.add("js");
  const toggle = document.querySelector(".menu-toggle");
  if (toggle) {
    toggle.hidden = false;
    toggle.addEventListener("click", function () {
      const open = toggle.getAttribute("aria-expanded") !== "true";
      toggle.setAttribute("aria-expanded", String(open));
      toggle.closest(".topbar").classList.toggle("open", open);
    });
  }

  document.addEventListener("click", function (event) {
    const button = event.target.closest("[data-copy]");
    if (!button) return;
    const field = document.getElementById(button.dataset.copy);
    const status = document.getElementById(button.dataset.copy + "-copied");
    field.select();
    const done = function () { if (status) status.textContent = "Copied."; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(field.value).then(done, function () {
        if (status) status.textContent = "Select the link and copy it (Ctrl+C).";
      });
    } else {
      // Plain http (a laptop, a test): the older API still copies the selection.
      document.execCommand("copy");
      done();
    }
  });

  // A form with data-confirm asks first (removing a member, deleting a tracker or a call).
  document.addEventListener("submit", function (event) {
    const form = event.target.closest("form[data-confirm]");
    if (form && !window.confirm(form.dataset.confirm)) event.preventDefault();
  });

  document.addEventListener("change", function (event) {
    const select = event.target.closest("select[data-submit-on-change]");
    if (select && select.form) select.form.submit();
  });

  document.addEventListener("click", function (event) {
    const field = event.target.closest("input[data-select-on-click]");
    if (field) field.select();
  });

  function fieldIn(element) {
    return element.querySelector("textarea, input[type=text], input:not([type]), select");
  }

  // A <details class="rename"> opens with the cursor in its field.
  document.addEventListener("toggle", function (event) {
    const details = event.target;
    if (!details.matches || !details.matches("details.rename") || !details.open) return;
    const field = fieldIn(details);
    if (field) { field.focus(); field.select(); }
  }, true);

  // A transcript line's editor, swapped in by htmx, gets the focus; after Save or Cancel the
  // focus returns to that line's Edit link rather than to the top of the page.
  let lastLine = null;
  document.addEventListener("click", function (event) {
    const line = event.target.closest(".segment[data-index]");
    if (line && event.target.closest(".edit-line, .move-line, .line-cancel, .line-save, .line-restore")) {
      lastLine = line.dataset.index;
    }
  });
  // After the settle, not the swap: htmx wires up the swapped-in links (hx-get) only then, and
  // an Edit link focused before that would follow its plain href on Enter.
  document.addEventListener("htmx:afterSettle", function () {
    if (lastLine === null) return;
    const line = document.getElementById("line-" + lastLine);
    if (!line) return;
    const editor = line.querySelector("textarea");
    const chooser = line.querySelector("select");
    if (editor) {
      editor.focus();
      editor.setSelectionRange(editor.value.length, editor.value.length);
    } else if (chooser) {
      chooser.focus();
    } else {
      const edit = line.querySelector(".edit-line");
      if (edit) edit.focus();
      lastLine = null;
    }
  });

  document.addEventListener("keydown", function (event) {
    const form = event.target.closest && event.target.closest("form");
    if (!form) return;
    const rename = form.closest("details.rename");
    const line = form.closest(".segment.editing");
    if (!rename && !line) return;
    if (line) lastLine = line.dataset.index;
    if (event.key === "Escape") {
      event.preventDefault();
      if (rename) {
        rename.open = false;
        rename.querySelector("summary").focus();
      } else {
        const cancel = line.querySelector(".line-cancel");
        if (cancel) cancel.click();
      }
    } else if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      const save = form.querySelector("button[type=submit]");
      form.requestSubmit(save || undefined);
    }
  });

  const SIZES = { width: "width", left: "left", height: "height" };

  function sizeBars(root) {
    for (const [key, property] of Object.entries(SIZES)) {
      const selector = "[data-" + key + "]";
      const elements = Array.from(root.querySelectorAll(selector));
      if (root.matches && root.matches(selector)) elements.push(root);
      for (const element of elements) {
        const percent = parseFloat(element.dataset[key]);
        if (isFinite(percent)) element.style[property] = Math.max(0, Math.min(100, percent)) + "%";
      }
    }
  }

  sizeBars(document);
  document.addEventListener("htmx:load", function (event) { sizeBars(event.detail.elt); });
})();
