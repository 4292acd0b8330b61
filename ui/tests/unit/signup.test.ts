import { describe, expect, it } from 'vitest';
import { accountFromAnswers, answers, fieldLabel, initialValues, missingRequired, visibleFields, type SignUpForm } from '../../src/lib/signup';

// XEP-0077 example 7 (data form) extended with the other field types.
const form: SignUpForm = {
  instructions: 'Use the enclosed form to register.',
  fields: [
    { var: 'FORM_TYPE', label: null, kind: 'hidden', required: false, value: 'jabber:iq:register', options: [] },
    { var: 'note', label: null, kind: 'fixed', required: false, value: 'Be nice.', options: [] },
    { var: 'username', label: null, kind: 'text-single', required: true, value: null, options: [] },
    { var: 'password', label: 'Password', kind: 'text-private', required: true, value: null, options: [] },
    { var: 'tos', label: 'I accept the rules', kind: 'boolean', required: true, value: null, options: [] },
    { var: 'lang', label: 'Language', kind: 'list-single', required: true, value: null, options: [{ label: 'English', value: 'en' }, { label: 'Deutsch', value: 'de' }] },
    { var: 'x-why', label: 'Why?', kind: 'text-single', required: false, value: null, options: [] },
  ],
};

describe('sign-up form model', () => {
  it('starts from the server’s values', () => {
    const v = initialValues(form);
    expect(v).toEqual({ FORM_TYPE: 'jabber:iq:register', username: '', password: '', tos: '0', lang: 'en', 'x-why': '' });
  });

  it('shows everything but hidden fields', () => {
    expect(visibleFields(form).map((f) => f.var)).toEqual(['note', 'username', 'password', 'tos', 'lang', 'x-why']);
  });

  it('labels fields', () => {
    expect(fieldLabel(form.fields[2])).toBe('User name');
    expect(fieldLabel(form.fields[3])).toBe('Password');
    expect(fieldLabel(form.fields[6])).toBe('Why?');
    expect(fieldLabel({ ...form.fields[6], label: null })).toBe('x-why');
  });

  it('lists required fields left empty, including an unticked box', () => {
    const v = initialValues(form);
    expect(missingRequired(form, v).map((f) => f.var)).toEqual(['username', 'password', 'tos']);
    v.username = 'juliet';
    v.password = 'R0meo!';
    v.tos = '1';
    expect(missingRequired(form, v)).toEqual([]);
    v.username = '   ';
    expect(missingRequired(form, v).map((f) => f.var)).toEqual(['username']);
  });

  it('answers with hidden values and without fixed text', () => {
    const a = answers(form, { FORM_TYPE: 'tampered', username: ' juliet ', password: ' pw ', tos: '1', lang: 'de', 'x-why': '' });
    expect(a).toEqual({ FORM_TYPE: 'jabber:iq:register', username: 'juliet', password: ' pw ', tos: '1', lang: 'de', 'x-why': '' });
    expect('note' in a).toBe(false);
  });

  it('derives the new account', () => {
    expect(accountFromAnswers(' example.org ', { username: 'juliet', password: 'pw' })).toEqual({ jid: 'juliet@example.org', password: 'pw' });
    expect(accountFromAnswers('example.org', { password: 'pw' })).toBeNull();
  });
});
