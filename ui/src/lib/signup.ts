// The sign-up form (XEP-0077) as the UI handles it: what to show, what the
// person still has to fill in, and what to send back.

export interface FieldOption {
  label: string;
  value: string;
}

export interface FormField {
  var: string;
  label: string | null;
  /** XEP-0004 type: text-single, text-private, hidden, fixed, boolean, list-single, ... */
  kind: string;
  required: boolean;
  value: string | null;
  options: FieldOption[];
}

export interface SignUpForm {
  instructions: string | null;
  fields: FormField[];
}

export type Values = Record<string, string>;

const KNOWN_LABELS: Record<string, string> = {
  username: 'User name',
  password: 'Password',
  email: 'Email',
  name: 'Name',
  first: 'First name',
  last: 'Last name',
  nick: 'Nickname',
  phone: 'Phone',
  url: 'Web site',
};

/** The label to show: the server's, else a known name, else the field name. */
export function fieldLabel(f: FormField): string {
  return f.label?.trim() || KNOWN_LABELS[f.var] || f.var;
}

const isBoolean = (f: FormField) => f.kind === 'boolean';
const isTrue = (v: string | undefined | null) => v === '1' || v === 'true';

/** Starting values: what the server pre-filled. */
export function initialValues(form: SignUpForm): Values {
  const v: Values = {};
  for (const f of form.fields) {
    if (f.kind === 'fixed') continue;
    if (isBoolean(f)) v[f.var] = isTrue(f.value) ? '1' : '0';
    else if (f.kind === 'list-single' && !f.value && f.options.length > 0 && f.required) v[f.var] = f.options[0].value;
    else v[f.var] = f.value ?? '';
  }
  return v;
}

/** Fields to draw (hidden ones are kept but not shown). */
export function visibleFields(form: SignUpForm): FormField[] {
  return form.fields.filter((f) => f.kind !== 'hidden');
}

/** Required fields still empty (a required checkbox must be ticked). */
export function missingRequired(form: SignUpForm, values: Values): FormField[] {
  return form.fields.filter((f) => {
    if (!f.required || f.kind === 'fixed' || f.kind === 'hidden') return false;
    const v = values[f.var] ?? '';
    return isBoolean(f) ? !isTrue(v) : v.trim() === '';
  });
}

/** The answers to submit: every non-fixed field, hidden ones with their value. */
export function answers(form: SignUpForm, values: Values): Values {
  const out: Values = {};
  for (const f of form.fields) {
    if (f.kind === 'fixed') continue;
    if (f.kind === 'hidden') {
      out[f.var] = f.value ?? '';
      continue;
    }
    const v = values[f.var] ?? '';
    out[f.var] = f.kind === 'text-private' ? v : v.trim();
  }
  return out;
}

/**
 * The account that the sign-up creates, for adding it to Tern afterwards.
 * `null` when the form has no user name or password field (then the person
 * signs in by hand).
 */
export function accountFromAnswers(domain: string, values: Values): { jid: string; password: string } | null {
  const user = (values.username ?? '').trim();
  const password = values.password ?? '';
  if (!user || !password) return null;
  return { jid: `${user}@${domain.trim()}`, password };
}
