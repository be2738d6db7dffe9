"""AWX's rules for a job template's survey spec, for the tests (no AWX here).

Written from AWX's source (github.com/ansible/awx, commit e21dd0a0, Oct 2024):
- awx/api/views/__init__.py, JobTemplateSurveySpec._validate_spec_data: what the API
  refuses when the spec is saved (HTTP 400);
- awx/main/models/mixins.py, SurveyJobTemplateMixin._survey_element_validation: what an
  answer (and a default, in _update_unified_job_kwargs) must be; a default that fails it is
  silently not sent, so it is an error here;
- awx/main/constants.py, SURVEY_TYPE_MAPPING: the question types and their Python types.

Stricter than AWX in one place: AWX checks a choice default with ``in`` against the
choices, which for choices given as one newline string is a substring test ("fals" would
pass); here choices are always split into lines first, as AWX does when it validates an
answer.
"""

SURVEY_TYPE_MAPPING = {
    "text": (str,), "textarea": (str,), "password": (str,), "multiplechoice": (str,),
    "multiselect": (str,), "integer": (int,), "float": (float, int),
}


def choice_list(choices):
    """AWX's choices: a list, or one string of newline-separated choices (blanks dropped)."""
    if isinstance(choices, str):
        return [choice for choice in choices.splitlines() if choice.strip() != ""]
    return list(choices)


def answer_errors(element, value):
    """Errors AWX gives for ``value`` as the answer to ``element`` (mixins.py)."""
    name, qtype = element["variable"], element["type"]
    limits = [(key, element.get(key)) for key in ("min", "max") if element.get(key) not in ("", None)]
    if qtype in ("text", "textarea", "password"):
        if not isinstance(value, str):
            return ["%s: %r is not a string" % (name, value)]
        return ["%s: length %d is outside %s %s" % (name, len(value), key, limit) for key, limit in limits
                if (len(value) < int(limit) if key == "min" else len(value) > int(limit))]
    if qtype == "integer":
        if not isinstance(value, int) or isinstance(value, bool):  # AWX: type(...) != int, a bool is refused
            return ["%s: %r is not an integer" % (name, value)]
        return ["%s: %d is outside %s %s" % (name, value, key, limit) for key, limit in limits
                if (value < int(limit) if key == "min" else value > int(limit))]
    if qtype == "float":
        if not isinstance(value, (float, int)) or isinstance(value, bool):
            return ["%s: %r is not a number" % (name, value)]
        return ["%s: %s is outside %s %s" % (name, value, key, limit) for key, limit in limits
                if (value < float(limit) if key == "min" else value > float(limit))]
    if qtype == "multiselect":
        if not isinstance(value, list):
            return ["%s: %r is not a list" % (name, value)]
        return ["%s: %r is not one of %s" % (name, item, choice_list(element["choices"]))
                for item in value if item not in choice_list(element["choices"])]
    if qtype == "multiplechoice":
        if value not in choice_list(element["choices"]):
            return ["%s: %r is not one of %s" % (name, value, choice_list(element["choices"]))]
    return []


def spec_errors(spec):
    """Every reason AWX would refuse ``spec`` (a survey_spec), or drop one of its defaults."""
    errors = []
    for field, kind in (("name", str), ("description", str), ("spec", list)):
        if field not in spec:
            errors.append("field %r is missing from the survey spec" % field)
        elif not isinstance(spec[field], kind):
            errors.append("field %r must be a %s" % (field, kind.__name__))
    if errors:
        return errors
    if not spec["spec"]:
        return ["'spec' has no questions"]
    seen = set()
    for idx, item in enumerate(spec["spec"]):
        where = "question %d" % idx
        if not isinstance(item, dict):
            errors.append("%s is not a mapping" % where)
            continue
        missing = [key for key in ("type", "question_name", "variable", "required") if key not in item]
        if missing:
            errors.append("%s: %s missing" % (where, ", ".join(missing)))
            continue
        wrong = [key for key in ("type", "question_name", "variable") if not isinstance(item[key], str)]
        if not isinstance(item["required"], bool):
            wrong.append("required")
        if wrong:
            errors.append("%s: %s of the wrong type" % (where, ", ".join(wrong)))
            continue
        if item["variable"] in seen:
            errors.append("%s: variable %r is used twice" % (where, item["variable"]))
        seen.add(item["variable"])
        qtype = item["type"]
        if qtype not in SURVEY_TYPE_MAPPING:
            errors.append("%s: type %r is not one of %s" % (where, qtype, sorted(SURVEY_TYPE_MAPPING)))
            continue
        if "default" in item and item["default"] != "" and not isinstance(item["default"], SURVEY_TYPE_MAPPING[qtype]):
            errors.append("%s: default %r is not of type %s" % (where, item["default"], qtype))
            continue
        for key in ("min", "max"):
            if item.get(key) is not None and (not isinstance(item[key], int) or isinstance(item[key], bool)):
                errors.append("%s: %s must be an integer" % (where, key))
        if qtype in ("multiplechoice", "multiselect"):
            if "choices" not in item:
                errors.append("%s: a %s question needs choices" % (where, qtype))
                continue
            if not isinstance(item["choices"], (str, list)) or not choice_list(item["choices"]):
                errors.append("%s: choices must be a non-empty list or newline string" % where)
                continue
            if "default" in item:
                defaults = choice_list(item["default"]) if isinstance(item["default"], str) else item["default"]
                if qtype == "multiplechoice" and len(defaults) > 1:
                    errors.append("%s: a multiple choice question has one default" % where)
                if any(value not in choice_list(item["choices"]) for value in defaults):
                    errors.append("%s: default %r is not among the choices" % (where, item["default"]))
                continue
        if isinstance(item.get("default"), str) and item["default"].startswith("$encrypted$"):
            errors.append("%s: $encrypted$ is reserved" % where)
        elif "default" in item and item["default"] is not None and item["default"] != "":
            # AWX sends a default only when it passes the answer rules
            errors += ["%s: default: %s" % (where, err) for err in answer_errors(item, item["default"])]
    return errors
