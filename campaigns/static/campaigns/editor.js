/* The campaign editor on the change page: a live preview of the unsaved form (debounced POST of
   the whole form to the editor-preview endpoint, rendered into a sandboxed iframe at desktop or
   phone width), articles ordered by drag and drop (their position fields follow), and a small
   Markdown toolbar with a merge tag picker above each article's text. The words and the merge
   tags come from the server (json_script). */
(function () {
  "use strict";

  var ready = window.KanalDom.ready;
  var el = window.KanalDom.el;
  var DELAY = 300;

  function json(id) {
    var node = document.getElementById(id);
    return node ? JSON.parse(node.textContent) : null;
  }

  ready(function () {
    var panel = document.getElementById("kanal-preview");
    var form = document.getElementById("campaign_form");
    if (!panel || !form) { return; }
    var texts = json("kanal-editor-texts") || {};
    var tags = json("kanal-merge-tags") || [];
    var preview = livePreview(panel, form, texts);
    var group = document.getElementById("articles-group");
    if (group) { sortable(group, texts, preview.schedule); }
    form.querySelectorAll("textarea[name$='-body']").forEach(function (area) { toolbar(area, texts, tags); });
    document.addEventListener("formset:added", function (event) {
      var row = event.target;
      if (!row || !row.closest || !row.closest("#articles-group")) { return; }
      var area = row.querySelector("textarea[name$='-body']");
      if (area) { toolbar(area, texts, tags); }
      if (group) { addHandle(row, texts); renumber(group); }
    });
    preview.schedule();
  });

  // Live preview ---------------------------------------------------------------------------------

  function livePreview(panel, form, texts) {
    var frame = panel.querySelector("iframe");
    var box = panel.querySelector(".kanal-frame-box");
    var state = panel.querySelector("[data-field=state]");
    var errors = panel.querySelector("[data-field=errors]");
    var timer = null;
    var sent = 0;

    panel.querySelectorAll("button[data-width]").forEach(function (button) {
      button.addEventListener("click", function () {
        box.dataset.width = button.dataset.width;
        panel.querySelectorAll("button[data-width]").forEach(function (other) {
          other.setAttribute("aria-pressed", other === button ? "true" : "false");
        });
      });
    });

    function field(name, value) {
      panel.querySelector("[data-field=" + name + "]").textContent = value || "";
    }

    function showErrors(list) {
      errors.replaceChildren.apply(errors, (list || []).map(function (text) { return el("li", {text: text}); }));
      errors.hidden = !(list && list.length);
    }

    function update() {
      var number = ++sent;
      var data = new FormData(form);
      Array.from(data.keys()).forEach(function (key) {
        if (data.getAll(key).some(function (value) { return value instanceof File; })) { data.delete(key); }
      });
      data.delete("_save"); data.delete("_continue"); data.delete("_addanother");
      state.textContent = texts.updating;
      fetch(panel.dataset.url, {method: "POST", body: data, credentials: "same-origin", headers: {"X-Requested-With": "fetch"}})
        .then(function (response) { return response.json(); })
        .then(function (result) {
          if (number !== sent) { return; }  // a newer request is on its way
          state.textContent = "";
          showErrors(result.errors);
          if (result.html === undefined) { return; }
          field("subject", result.subject);
          field("preheader", result.preheader);
          field("from_name", result.from_name);
          frame.srcdoc = result.html;
        })
        .catch(function () {
          if (number === sent) { state.textContent = texts.failed; }
        });
    }

    function schedule() {
      clearTimeout(timer);
      timer = setTimeout(update, DELAY);
    }

    form.addEventListener("input", schedule);
    form.addEventListener("change", schedule);
    // The admin's "+" popup and its autocomplete (a media library image, a segment) announce a new
    // choice through jQuery's trigger, which listeners added with addEventListener never see.
    var jQuery = window.django && window.django.jQuery;
    if (jQuery) { jQuery(form).on("change", schedule); }
    return {schedule: schedule};
  }

  // Articles by drag and drop ----------------------------------------------------------------------

  function items(group) {
    return Array.from(group.querySelectorAll(".inline-related")).filter(function (item) {
      return !item.classList.contains("empty-form");
    });
  }

  function renumber(group) {
    items(group).forEach(function (item, index) {
      var position = item.querySelector("input[name$='-position']");
      if (position) { position.value = String(index); }
    });
  }

  var dragged = null;

  function addHandle(item, texts) {
    var heading = item.querySelector("h3");
    if (!heading || heading.querySelector(".kanal-drag")) { return; }
    var handle = el("span", {"class": "kanal-drag", draggable: "true", title: texts.drag, "aria-label": texts.drag, role: "button", text: "⠿"});
    heading.insertBefore(handle, heading.firstChild);
    handle.addEventListener("dragstart", function (event) {
      dragged = item;
      item.classList.add("kanal-dragging");
      event.dataTransfer.effectAllowed = "move";
      event.dataTransfer.setData("text/plain", item.id);
    });
    handle.addEventListener("dragend", function () {
      item.classList.remove("kanal-dragging");
      dragged = null;
    });
  }

  function sortable(group, texts, changed) {
    group.classList.add("kanal-sortable");
    items(group).forEach(function (item) { addHandle(item, texts); });
    function target(event) {
      var item = event.target.closest && event.target.closest(".inline-related");
      return item && !item.classList.contains("empty-form") && dragged && item !== dragged ? item : null;
    }
    group.addEventListener("dragover", function (event) {
      var item = target(event);
      if (!item) { return; }
      event.preventDefault();
      event.dataTransfer.dropEffect = "move";
      group.querySelectorAll(".kanal-drop-target").forEach(function (other) { other.classList.remove("kanal-drop-target"); });
      item.classList.add("kanal-drop-target");
    });
    group.addEventListener("dragleave", function (event) {
      var item = target(event);
      if (item) { item.classList.remove("kanal-drop-target"); }
    });
    group.addEventListener("drop", function (event) {
      var item = target(event);
      if (!item) { return; }
      event.preventDefault();
      item.classList.remove("kanal-drop-target");
      var box = item.getBoundingClientRect();
      var before = event.clientY < box.top + box.height / 2;
      item.parentNode.insertBefore(dragged, before ? item : item.nextSibling);
      renumber(group);
      changed();
    });
  }

  // Markdown toolbar -----------------------------------------------------------------------------

  function replaceSelection(area, make) {
    var start = area.selectionStart, end = area.selectionEnd;
    var made = make(area.value.slice(start, end));
    area.setRangeText(made.text, start, end, "end");
    if (made.select) { area.setSelectionRange(start + made.select[0], start + made.select[1]); }
    area.focus();
    area.dispatchEvent(new Event("input", {bubbles: true}));
  }

  function wrap(marker) {
    return function (selected) {
      return {text: marker + selected + marker, select: [marker.length, marker.length + selected.length]};
    };
  }

  function prefixLines(prefix) {
    return function (selected) {
      var lines = (selected || "").split("\n").map(function (line) { return prefix + line; });
      var text = lines.join("\n");
      return {text: text, select: [text.length, text.length]};
    };
  }

  function toolbar(area, texts, tags) {
    if (area.closest(".empty-form") || area.closest(".kanal-md-editor")) { return; }
    var bar = el("div", {"class": "kanal-md-toolbar", role: "toolbar", "aria-label": "Markdown"});
    var actions = [
      ["bold", "B", wrap("**")],
      ["italic", "I", wrap("*")],
      ["link", "🔗", function (selected) {
        var label = selected || texts.link_text;
        var text = "[" + label + "](https://)";
        return {text: text, select: [label.length + 3, text.length - 1]};
      }],
      ["list", "•", prefixLines("- ")],
      ["quote", "❝", prefixLines("> ")],
    ];
    actions.forEach(function (action) {
      var button = el("button", {type: "button", "class": "button", "data-md": action[0], title: texts[action[0]], "aria-label": texts[action[0]], text: action[1]});
      button.addEventListener("click", function () { replaceSelection(area, action[2]); });
      bar.appendChild(button);
    });
    var picker = el("select", {"aria-label": texts.merge_tag, "data-md": "merge_tag"}, [el("option", {value: "", text: texts.merge_tag})]);
    tags.forEach(function (tag) { picker.appendChild(el("option", {value: tag, text: tag})); });
    picker.addEventListener("change", function (event) {
      event.stopPropagation();  // only the text changes the preview
      if (!picker.value) { return; }
      var tag = picker.value;
      picker.value = "";
      replaceSelection(area, function () { return {text: tag, select: [tag.length, tag.length]}; });
    });
    bar.appendChild(picker);
    var wrapper = el("div", {"class": "kanal-md-editor"});
    area.parentNode.insertBefore(wrapper, area);
    wrapper.appendChild(bar);
    wrapper.appendChild(area);
  }
})();
