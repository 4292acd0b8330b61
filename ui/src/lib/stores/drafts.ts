// Unsent text per conversation (see ../drafts.ts), one store for the app.

import { Drafts } from '../drafts';

export const drafts = new Drafts();
