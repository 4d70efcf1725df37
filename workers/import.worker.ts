import * as Comlink from 'comlink';
import { createImportApi } from '../src/lib/worker/import';

Comlink.expose(createImportApi());
