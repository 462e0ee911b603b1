/* The segment rule editor: a tree of groups and conditions on top of the JSON "rules" field.
   The kinds, their parameters and every word come from the server (json_script); each change
   writes the JSON back into the field and, after a pause, asks the server for the live count. */
(function () {
  "use strict";

  var ready = window.KanalDom.ready;
  var el = window.KanalDom.el;

  function csrfToken() {
    var input = document.querySelector("input[name=csrfmiddlewaretoken]");
    return input ? input.value : "";
  }

  ready(function () {
    var field = document.querySelector("textarea[data-segment-rules]");
    var box = document.getElementById("segment-editor");
    if (!field || !box) { return; }
    var kinds = JSON.parse(document.getElementById("segment-kinds").textContent);
    var texts = JSON.parse(document.getElementById("segment-texts").textContent);
    var byKey = {};
    kinds.forEach(function (kind) { byKey[kind.key] = kind; });
    var rules;
    try { rules = JSON.parse(field.value || "null"); } catch (error) { return; }  // keep the raw field
    if (!rules || typeof rules !== "object" || Array.isArray(rules)) { rules = {op: "and", children: []}; }
    if (!("op" in rules)) { rules = {op: "and", children: [rules]}; }
    field.closest(".form-row") && field.closest(".form-row").classList.add("segment-json");
    field.hidden = true;
    field.insertAdjacentElement("afterend", box);  // the tree where the JSON was
    var tree = box.querySelector("[data-tree]");
    var preview = box.querySelector("[data-preview]");
    box.querySelectorAll("[data-label]").forEach(function (label) { label.textContent = texts[label.dataset.label]; });

    function changed() {
      field.value = JSON.stringify(rules);
      render();
      schedulePreview();
    }

    function defaults(kind) {
      var condition = {kind: kind.key};
      kind.params.forEach(function (param) {
        if (param.default !== null && param.default !== undefined) { condition[param.name] = param.default; }
        else if (param.type === "choice" && param.required && param.choices.length) { condition[param.name] = param.choices[0][0]; }
      });
      return condition;
    }

    function kindSelect(node, replace) {
      var select = el("select", {"aria-label": texts.choose_kind, "class": "segment-kind"});
      select.appendChild(el("option", {value: "", text: texts.choose_kind}));
      var groups = {};
      kinds.forEach(function (kind) {
        if (!groups[kind.group]) {
          groups[kind.group] = el("optgroup", {label: kind.group_label});
          select.appendChild(groups[kind.group]);
        }
        groups[kind.group].appendChild(el("option", {value: kind.key, text: kind.label}));
      });
      select.value = node.kind || "";
      select.addEventListener("change", function () {
        var kind = byKey[select.value];
        replace(kind ? defaults(kind) : {kind: ""});
        changed();
      });
      return select;
    }

    function paramInput(node, param) {
      var value = node[param.name];
      var input;
      if (param.type === "bool") {
        input = el("input", {type: "checkbox"});
        input.checked = value === true;
        input.addEventListener("change", function () { node[param.name] = input.checked; changed(); });
      } else if (param.type === "choice" || param.type === "ref" || param.type === "refs") {
        input = el("select", param.type === "refs" ? {multiple: "multiple", size: "4"} : {});
        // An empty first option whenever nothing is chosen yet, so the page never shows a choice the rules lack.
        if (param.type !== "refs" && (!param.required || value === null || value === undefined || value === "")) {
          input.appendChild(el("option", {value: "", text: param.required ? "–" : texts.any}));
        }
        param.choices.forEach(function (choice) {
          var option = el("option", {value: String(choice[0]), text: choice[1]});
          var chosen = param.type === "refs" ? (value || []).map(String).indexOf(String(choice[0])) >= 0 : String(value) === String(choice[0]);
          option.selected = chosen;
          input.appendChild(option);
        });
        input.addEventListener("change", function () {
          if (param.type === "refs") {
            node[param.name] = Array.prototype.filter.call(input.options, function (o) { return o.selected; }).map(function (o) { return Number(o.value); });
          } else if (param.type === "ref") {
            node[param.name] = input.value === "" ? null : Number(input.value);
          } else {
            node[param.name] = input.value;
          }
          changed();
        });
      } else {
        input = el("input", {type: param.type === "int" ? "number" : param.type === "date" ? "date" : "text"});
        if (param.min !== undefined) { input.min = param.min; }
        if (param.max !== undefined) { input.max = param.max; }
        input.value = value === null || value === undefined ? "" : value;
        input.addEventListener("change", function () {
          var raw = input.value.trim();
          node[param.name] = raw === "" ? null : param.type === "int" && /^-?\d+$/.test(raw) ? Number(raw) : raw;
          changed();
        });
      }
      input.setAttribute("data-param", param.name);
      var label = el("label", {}, [el("span", {text: param.label + " "}), input]);
      if (param.help_text) { label.title = param.help_text; }
      return label;
    }

    function renderNode(node, replace, remove) {
      if ("op" in node) {
        var op = el("select", {"aria-label": texts.and, "class": "segment-op"});
        ["and", "or", "not"].forEach(function (name) { op.appendChild(el("option", {value: name, text: texts[name]})); });
        op.value = node.op;
        op.addEventListener("change", function () { node.op = op.value; changed(); });
        var addCondition = el("button", {type: "button", "class": "button", "data-action": "add-condition", text: texts.add_condition});
        addCondition.addEventListener("click", function () { node.children.push({kind: ""}); changed(); });
        var addGroup = el("button", {type: "button", "class": "button", "data-action": "add-group", text: texts.add_group});
        addGroup.addEventListener("click", function () { node.children.push({op: "and", children: []}); changed(); });
        var head = el("div", {"class": "segment-head"}, [op, addCondition, addGroup]);
        if (remove) {
          var drop = el("button", {type: "button", "class": "button segment-remove", text: texts.remove});
          drop.addEventListener("click", remove);
          head.appendChild(drop);
        }
        var list = el("ul", {"class": "segment-children"});
        node.children.forEach(function (child, index) {
          list.appendChild(el("li", {}, [renderNode(child, function (next) { node.children[index] = next; }, function () {
            node.children.splice(index, 1);
            changed();
          })]));
        });
        return el("div", {"class": "segment-group"}, [head, list]);
      }
      var kind = byKey[node.kind];
      var row = el("div", {"class": "segment-condition"}, [kindSelect(node, replace)]);
      if (kind) {
        kind.params.forEach(function (param) { row.appendChild(paramInput(node, param)); });
        if (kind.needs_consent) { row.appendChild(el("p", {"class": "help", text: texts.consent_note})); }
        if (kind.help_text) { row.appendChild(el("p", {"class": "help", text: kind.help_text})); }
      }
      var dropCondition = el("button", {type: "button", "class": "button segment-remove", text: texts.remove});
      dropCondition.addEventListener("click", remove);
      row.appendChild(dropCondition);
      return row;
    }

    function render() {
      tree.replaceChildren(renderNode(rules, function (next) { rules = next; }, null));
    }

    var timer = null;
    var asked = 0;
    function schedulePreview() {
      if (!preview || !box.dataset.previewUrl) { return; }
      clearTimeout(timer);
      timer = setTimeout(loadPreview, 400);
    }

    function show(name, value) {
      var target = preview.querySelector("[data-field=" + name + "]");
      target.textContent = value === null || value === undefined ? "–" : value;
    }

    function loadPreview() {
      var mine = ++asked;
      show("count", texts.counting);
      fetch(box.dataset.previewUrl, {
        method: "POST",
        credentials: "same-origin",
        headers: {"Content-Type": "application/json", "X-CSRFToken": csrfToken()},
        body: JSON.stringify({rules: rules})
      }).then(function (response) { return response.json(); }).then(function (data) {
        if (mine !== asked) { return; }  // a newer request is on its way
        show("count", data.count);
        show("left_out_for_consent", data.left_out_for_consent);
        var warnings = preview.querySelector("[data-field=warnings]");
        warnings.replaceChildren();
        (data.problems || []).forEach(function (problem) { warnings.appendChild(el("li", {"class": "error", text: problem})); });
        if (data.matches_everyone) { warnings.appendChild(el("li", {"class": "warning", text: texts.everyone})); }
        var sample = preview.querySelector("[data-field=sample]");
        sample.replaceChildren();
        if ((data.sample || []).length) {
          sample.appendChild(el("h3", {text: texts.sample}));
          sample.appendChild(el("ul", {}, data.sample.map(function (person) {
            return el("li", {text: person.name ? person.name + " <" + person.email + ">" : person.email});
          })));
        }
      }).catch(function () {
        if (mine === asked) { show("count", texts.failed); }
      });
    }

    render();
    field.value = JSON.stringify(rules);
    schedulePreview();
  });
})();
