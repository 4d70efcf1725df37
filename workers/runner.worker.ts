import * as Comlink from 'comlink';
import { createRunnerApi } from '../src/lib/worker/api';

Comlink.expose(createRunnerApi());
