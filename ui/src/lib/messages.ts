// Words for message actions that failed, from the shell's `UiError`.

import { errorText, isUiError } from './errors';

export type MessageAction = 'send' | 'resend' | 'send-unencrypted' | 'retry-held' | 'edit' | 'delete' | 'delete-conversation' | 'react' | 'load' | 'search';

const verbs: Record<MessageAction, string> = {
  send: 'send the message',
  resend: 'send the message again',
  'send-unencrypted': 'send the message unencrypted',
  'retry-held': 'try encrypting again',
  edit: 'save the change',
  delete: 'delete the message',
  'delete-conversation': 'delete the conversation',
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

/** Why a message was not sent, in words, from its XMPP error condition. */
export function failureReason(condition: string | null): string {
  switch (condition) {
    case null:
      return 'It did not reach your server. Check the connection and send it again.';
    case 'service-unavailable':
    case 'item-not-found':
    case 'recipient-unavailable':
    case 'gone':
      return 'The recipient’s server says this address cannot receive messages. Check the address.';
    case 'remote-server-not-found':
      return 'The recipient’s server could not be found. Check the address, or try again later.';
    case 'remote-server-timeout':
      return 'The recipient’s server did not answer. Try again later.';
    case 'not-acceptable':
    case 'forbidden':
    case 'not-allowed':
    case 'not-authorized':
      return 'A server refused it.';
    case 'policy-violation':
      return 'A server refused it under its rules.';
    case 'resource-constraint':
      return 'A server is too busy. Try again later.';
    case 'jid-malformed':
      return 'The address is not valid.';
    default:
      return `A server sent it back (${condition}).`;
  }
}
