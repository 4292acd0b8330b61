// Words for message actions that failed, from the shell's `UiError`.

import { errorText, isUiError } from './errors';

export type MessageAction = 'send' | 'resend' | 'edit' | 'delete' | 'react' | 'load' | 'search';

const verbs: Record<MessageAction, string> = {
  send: 'send the message',
  resend: 'send the message again',
  edit: 'save the change',
  delete: 'delete the message',
  react: 'add the reaction',
  load: 'load older messages',
  search: 'search',
};

/** "Could not … : why" for an action that failed. */
export function actionError(action: MessageAction, e: unknown): string {
  if (isUiError(e)) {
    switch (e.kind) {
      case 'not_connected':
        return `Could not ${verbs[action]}: the account is offline. Try again once it is connected.`;
      case 'timeout':
        return `Could not ${verbs[action]}: the server did not answer in time.`;
      case 'invalid_address':
        return e.message;
    }
  }
  const why = errorText(e).trim().replace(/\.$/, '');
  return `Could not ${verbs[action]}${why ? `: ${why}` : ''}.`;
}
