import { expect, test } from '@playwright/test';

function file(name: string, text: string, mimeType = 'text/plain') {
  return { name, mimeType, buffer: Buffer.from(text) };
}

test('the import preview lists every problem with its line; Create job uses the valid lines', async ({
  page
}) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  const lines = [
    '{"custom_id":"a","prompt":"Say hi"}',
    '{"custom_id":"b","prompt":',
    '{"custom_id":"c"}',
    '{"custom_id":"a","prompt":"Again"}',
    '{"custom_id":"d","messages":[{"role":"user","content":"Hello"}]}'
  ];
  await page.getByLabel('Prompt file').setInputFiles(file('mixed.jsonl', lines.join('\n')));
  const problems = page.getByRole('alert').filter({ hasText: 'Problems' });
  await expect(problems).toContainText('mixed.jsonl line 2');
  await expect(problems).toContainText('mixed.jsonl line 3');
  await expect(problems).toContainText('mixed.jsonl line 4');
  await expect(problems.getByRole('listitem')).toHaveCount(3);
  await expect(page.getByTestId('import-summary')).toHaveText('2 valid prompts, 3 problems.');

  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\//);
  await expect(page.getByRole('progressbar', { name: 'Job progress' })).toHaveAttribute(
    'aria-valuemax',
    '2'
  );
  await page.getByRole('button', { name: 'Start', exact: true }).click();
  await expect(page.getByRole('status')).toHaveText('Completed');
});

test('a file-level problem blocks the job and Cancel leaves every stored job untouched', async ({
  page
}) => {
  await page.goto('/?engine=simulated&tokenDelayMs=0');
  await page.getByLabel('Prompt file').setInputFiles(file('good.txt', 'one\ntwo\nthree\n'));
  await page.getByRole('button', { name: 'Create job', exact: true }).click();
  await page.waitForURL(/\/jobs\//);
  await page.goto('/');
  const jobs = page.getByRole('region', { name: 'Your jobs' }).getByRole('listitem');
  await expect(jobs).toHaveCount(1);

  await page.getByLabel('Prompt file').setInputFiles(file('empty.jsonl', '   \n\n'));
  await expect(page.getByRole('alert').filter({ hasText: 'Problems' })).toContainText(
    'empty.jsonl'
  );
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toBeDisabled();
  await page.getByRole('button', { name: 'Cancel', exact: true }).click();
  await expect(page.getByRole('button', { name: 'Create job', exact: true })).toHaveCount(0);
  await page.reload();
  await expect(jobs).toHaveCount(1);
});
