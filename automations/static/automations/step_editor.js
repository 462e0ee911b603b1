/* The automation step editor: a list of steps, and the trigger's parameters, on top of the JSON
   fields "steps" and "trigger_params", which stay the storage. The kinds, their fields, the
   choices and every word come from the server (json_script); each change writes the JSON back.
   A kind without field descriptions is edited as a JSON object. */
(function () {
  "use strict";

  var ready = window.KanalDom.ready;
  var el = window.KanalDom.el;

  function data(id) { return JSON.parse(document.getElementById(id).textContent); }

  function words(template, values) {
    return template.replace(/%\((\w+)\)s/g, function (_all, name) { return values[name]; });
  }

  function paramsOf(node) {
    var params = {};
    Object.keys(node).forEach(function (key) { if (key !== "kind") { params[key] = node[key]; } });
    return params;
  }

  /* One input for one field description; ``set`` stores the new value (undefined: leave it out). */
  function fieldInput(field, value, set, extra) {
    var input;
    if (field.type === "bool") {
      input = el("input", {type: "checkbox"});
      input.checked = value === true;
      if (value === undefined || value === null) { set(false); }
      input.addEventListener("change", function () { set(input.checked); });
    } else if (field.type === "weekdays") {
      input = el("span", {"class": "automation-weekdays"});
      var chosen = (value || []).map(Number);
      extra.texts.weekdays.forEach(function (name, day) {
        var box = el("input", {type: "checkbox", value: String(day), "data-weekday": String(day)});
        box.checked = chosen.indexOf(day) >= 0;
        box.addEventListener("change", function () {
          var days = Array.prototype.filter.call(input.querySelectorAll("input"), function (b) { return b.checked; })
            .map(function (b) { return Number(b.value); });
          set(days.length ? days : undefined);
        });
        input.appendChild(el("label", {}, [box, el("span", {text: " " + name + " "})]));
      });
    } else if (field.type === "choice" || field.type === "ref" || field.type === "step") {
      input = el("select", {});
      var choices = field.type === "step" ? extra.stepChoices : field.choices;
      if (!field.required || value === null || value === undefined || value === "") {
        input.appendChild(el("option", {value: "", text: "–"}));
      }
      var offered = choices.some(function (choice) { return String(value) === String(choice[0]); });
      if (!offered && value !== null && value !== undefined && value !== "") {
        // No longer offered (a cancelled mail, a deleted tag): shown by its id rather than as the first choice.
        choices = [[value, "#" + value]].concat(choices);
      }
      choices.forEach(function (choice) {
        var option = el("option", {value: String(choice[0]), text: choice[1]});
        option.selected = String(value) === String(choice[0]);
        input.appendChild(option);
      });
      input.addEventListener("change", function () {
        if (input.value === "") { set(undefined); }
        else { set(field.type === "choice" ? input.value : Number(input.value)); }
      });
    } else {
      var type = field.type === "int" ? "number" : field.type === "time" ? "time" : "text";
      input = el("input", {type: type});
      input.value = value === null || value === undefined ? "" : value;
      input.addEventListener("change", function () {
        var raw = input.value.trim();
        if (field.type === "int") { set(raw === "" ? undefined : /^-?\d+$/.test(raw) ? Number(raw) : raw); }
        else if (field.type === "text") { set(raw); }
        else { set(raw === "" ? undefined : raw); }
      });
    }
    input.setAttribute("data-param", field.name);
    // The weekdays are labelled checkboxes of their own, and a label must not hold labels.
    return el(field.type === "weekdays" ? "div" : "label", {"class": "automation-field"}, [el("span", {text: field.label + " "}), input]);
  }

  /* Parameters of a kind without field descriptions: a JSON object in a text area. */
  function jsonInput(node, texts, changed, errorBox) {
    var area = el("textarea", {rows: "2", cols: "60", "data-param-json": ""});
    area.value = JSON.stringify(paramsOf(node));
    area.addEventListener("change", function () {
      var parsed;
      try { parsed = JSON.parse(area.value || "{}"); } catch (error) { parsed = null; }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed)) {
        errorBox.textContent = texts.json_invalid;
        return;
      }
      Object.keys(node).forEach(function (key) { if (key !== "kind") { delete node[key]; } });
      Object.keys(parsed).forEach(function (key) { if (key !== "kind") { node[key] = parsed[key]; } });
      changed();
    });
    return el("label", {"class": "automation-field"}, [el("span", {text: texts.json_params + " "}), area]);
  }

  function triggerEditor(schema, texts) {
    var kindSelect = document.querySelector("select[data-automation-trigger-kind]");
    var field = document.querySelector("textarea[data-automation-trigger-params]");
    var box = document.querySelector("[data-trigger-editor]");
    if (!kindSelect || !field || !box) { return; }
    var params;
    try { params = JSON.parse(field.value || "{}"); } catch (error) { return; }
    if (!params || typeof params !== "object" || Array.isArray(params)) { params = {}; }
    var byKey = {};
    schema.triggers.forEach(function (kind) { byKey[kind.key] = kind; });
    field.hidden = true;
    field.insertAdjacentElement("afterend", box);
    box.hidden = false;

    function render() {
      box.textContent = "";
      var kind = byKey[kindSelect.value];
      if (!kind || !kind.fields.length) {
        field.hidden = false;
        return;
      }
      field.hidden = true;
      kind.fields.forEach(function (spec) {
        box.appendChild(fieldInput(spec, params[spec.name], function (value) {
          if (value === undefined) { delete params[spec.name]; } else { params[spec.name] = value; }
          field.value = JSON.stringify(params);
        }, {texts: texts}));
      });
    }

    kindSelect.addEventListener("change", function () {
      params = {};
      field.value = "{}";
      render();
    });
    render();
  }

  function stepEditor(schema, texts, errors) {
    var field = document.querySelector("textarea[data-automation-steps]");
    var box = document.querySelector("[data-step-editor]");
    if (!field || !box) { return; }
    var steps;
    try { steps = JSON.parse(field.value || "[]"); } catch (error) { return; }  // keep the raw field
    if (!Array.isArray(steps)) { return; }
    var byKey = {};
    schema.steps.forEach(function (kind) { byKey[kind.key] = kind; });
    field.hidden = true;
    field.insertAdjacentElement("afterend", box);
    box.hidden = false;
    var list = box.querySelector("[data-steps]");
    var add = box.querySelector("[data-add-step]");
    add.textContent = texts.add_step;

    function changed() {
      field.value = JSON.stringify(steps);
      errors = {};  // the server's messages were about the steps as they were
      render();
    }

    /* Branch targets follow the steps they point at when steps move or go. */
    function retarget(map) {
      steps.forEach(function (step) {
        if (step && typeof step.goto === "number") { step.goto = map(step.goto); }
      });
    }

    function move(index, by) {
      var other = index + by;
      if (other < 0 || other >= steps.length) { return; }
      var step = steps[index];
      steps[index] = steps[other];
      steps[other] = step;
      retarget(function (goto) { return goto === index ? other : goto === other ? index : goto; });
      changed();
    }

    function remove(index) {
      steps.splice(index, 1);
      retarget(function (goto) { return goto > index ? goto - 1 : goto; });
      changed();
    }

    function stepChoices(index) {
      var choices = [];
      for (var target = index + 1; target < steps.length; target += 1) {
        var kind = byKey[steps[target].kind];
        choices.push([target, words(texts.step, {number: target}) + ": " + (kind ? kind.label : steps[target].kind)]);
      }
      choices.push([steps.length, texts.the_end]);
      return choices;
    }

    function kindSelect(node, index) {
      var select = el("select", {"aria-label": texts.choose_kind, "data-step-kind": ""});
      select.appendChild(el("option", {value: "", text: texts.choose_kind}));
      schema.steps.forEach(function (kind) {
        select.appendChild(el("option", {value: kind.key, text: kind.label}));
      });
      select.value = node.kind || "";
      select.addEventListener("change", function () {
        steps[index] = {kind: select.value};
        changed();
      });
      return select;
    }

    function button(text, action, name) {
      var node = el("button", {type: "button", "class": "button", "data-action": name, text: text});
      node.addEventListener("click", action);
      return node;
    }

    function render() {
      list.textContent = "";
      if (!steps.length) { list.appendChild(el("li", {"class": "automation-empty", text: texts.no_steps})); }
      steps.forEach(function (node, index) {
        var kind = byKey[node.kind];
        var errorBox = el("ul", {"class": "errorlist", "data-step-errors": ""});
        (errors[String(index)] || []).forEach(function (message) { errorBox.appendChild(el("li", {text: message})); });
        var head = el("div", {"class": "automation-step-head"}, [
          el("strong", {text: words(texts.step, {number: index})}),
          kindSelect(node, index),
          button(texts.up, function () { move(index, -1); }, "up"),
          button(texts.down, function () { move(index, 1); }, "down"),
          button(texts.remove, function () { remove(index); }, "remove"),
        ]);
        var params = el("div", {"class": "automation-step-params"});
        if (kind && kind.fields.length) {
          kind.fields.forEach(function (spec) {
            params.appendChild(fieldInput(spec, node[spec.name], function (value) {
              if (value === undefined) { delete node[spec.name]; } else { node[spec.name] = value; }
              field.value = JSON.stringify(steps);
            }, {texts: texts, stepChoices: stepChoices(index)}));
          });
        } else if (node.kind) {
          params.appendChild(jsonInput(node, texts, changed, errorBox));
        }
        list.appendChild(el("li", {"class": "automation-step", "data-step": String(index)}, [head, params, errorBox]));
      });
    }

    add.addEventListener("click", function () {
      var end = steps.length;
      steps.push({kind: ""});
      retarget(function (goto) { return goto === end ? end + 1 : goto; });
      changed();
    });
    render();
  }

  ready(function () {
    if (!document.getElementById("automation-kinds")) { return; }
    var schema = data("automation-kinds");
    var texts = data("automation-texts");
    triggerEditor(schema, texts);
    stepEditor(schema, texts, data("automation-step-errors"));
  });
})();
