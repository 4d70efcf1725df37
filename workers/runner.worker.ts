import * as Comlink from 'comlink';
import { createRunnerApi } from '../src/lib/jobs/runner-api';

Comlink.expose(createRunnerApi());
