import type { Database } from '../../db/client.js';

/**
 * Demo IBR and DR data over a seeded registry, derived in SQL from the people and households already there (so it
 * follows the registry's own distribution and costs one statement per programme): five programmes of an SP-MIS with
 * their enrolments and status histories, and a disability record for every person with a disability. Deterministic
 * for a given registry (everything keys on row ids and dates relative to the reference date); repeatable (conflicts
 * are skipped). Elderly people with a disability end up in two cash programmes (old-age pension and disability grant),
 * and pensioners in poor households in a third through the household's transfer: the duplicates a programme officer
 * looks for.
 */

interface DemoProgramme {
  code: string;
  name: string;
  description: string;
  institution: string;
  institutionType: string;
  programmeType: string;
  benefitType: number;
  frequency: string;
  benefit: string;
  /** Who is enrolled: `i` an individual (with `age`, active membership `m`, household `g`), or `g` a household. */
  unit: 1 | 2;
  who: string;
}

const AGE = `extract(year from age($1::date, i.birth_date))`;

export const DEMO_PROGRAMMES: readonly DemoProgramme[] = [
  {
    code: 'SCT',
    name: 'Social Cash Transfer',
    description: 'Monthly cash for the poorest households',
    institution: 'Ministry of Social Development',
    institutionType: 'government',
    programmeType: 'social_assistance',
    benefitType: 1,
    frequency: 'monthly',
    benefit: 'USD 40',
    unit: 2,
    who: `g.poverty_score < 25 and g.group_size > 0`,
  },
  {
    code: 'OAP',
    name: 'Old Age Pension',
    description: 'Non-contributory pension from 65',
    institution: 'National Pensions Agency',
    institutionType: 'government',
    programmeType: 'social_pension',
    benefitType: 1,
    frequency: 'monthly',
    benefit: 'USD 30',
    unit: 1,
    who: `${AGE} >= 65 and i.id % 10 < 8`,
  },
  {
    code: 'DSG',
    name: 'Disability Support Grant',
    description: 'Monthly grant for people with a certified disability',
    institution: 'Ministry of Social Development',
    institutionType: 'government',
    programmeType: 'social_assistance',
    benefitType: 1,
    frequency: 'monthly',
    benefit: 'USD 25',
    unit: 1,
    who: `i.is_disabled and i.id % 10 < 7`,
  },
  {
    code: 'SFP',
    name: 'School Feeding Programme',
    description: 'A daily school meal for children of poor households',
    institution: 'Ministry of Education',
    institutionType: 'government',
    programmeType: 'school_feeding',
    benefitType: 3,
    frequency: 'monthly',
    benefit: '20 meals',
    unit: 1,
    who: `${AGE} between 6 and 14 and g.poverty_score < 45 and i.death_date is null`,
  },
  {
    code: 'PWP',
    name: 'Public Works Programme',
    description: 'Paid work on community assets for unemployed adults',
    institution: 'Ministry of Labour',
    institutionType: 'government',
    programmeType: 'labour_market',
    benefitType: 5,
    frequency: 'fortnightly',
    benefit: 'USD 60',
    unit: 1,
    who: `${AGE} between 18 and 59 and i.employment_status = 3 and g.poverty_score < 40 and i.id % 3 = 0`,
  },
];

/** Enrolment status by row id: mostly Active, some Suspended and Graduated; Deceased for people who died. */
const STATUS = (id: string, dead: string) => `case when ${dead} then 2 when ${id} % 17 = 0 then 4 when ${id} % 23 = 0 then 3 else 1 end`;

export async function seedProgrammes(db: Pick<Database, 'query'>, opts: { owner: string; referenceDate: string }): Promise<number> {
  let rows = 0;
  for (const p of DEMO_PROGRAMMES) {
    const [programme] = await db.query<{ id: number }>(
      `insert into programmes (code, name, description, implementing_institution, institution_type, programme_type, benefit_type, benefit_frequency, owner_id)
       values ($1, $2, $3, $4, $5, $6, $7, $8, $9)
       on conflict (code) do update set updated_at = programmes.updated_at returning id`,
      [p.code, p.name, p.description, p.institution, p.institutionType, p.programmeType, p.benefitType, p.frequency, opts.owner],
    );
    const id = p.unit === 2 ? 'g.id' : 'i.id';
    const dead = p.unit === 2 ? 'false' : 'i.death_date is not null';
    const from =
      p.unit === 2
        ? 'groups g'
        : 'individuals i left join memberships m on m.individual_id = i.id and m.end_date is null left join groups g on g.id = m.group_id';
    const benefits = JSON.stringify([{ benefit_type: String(p.benefitType), benefit_value: p.benefit, benefit_frequency: p.frequency }]);
    const [inserted] = await db.query<{ n: number }>(
      `with added as (insert into enrolments (programme_id, ${p.unit === 2 ? 'group_id' : 'individual_id'}, assistance_unit, status, enrolment_date, status_changed_on, benefits, source_id)
       select $2, ${id}, ${p.unit}, s.status, $1::date - (400 + ${id} % 1500)::int,
              case when s.status = 2 then i_death.d when s.status <> 1 then $1::date - (${id} % 300)::int end, $3::jsonb, $4
       from ${from}
       cross join lateral (select ${STATUS(id, dead)} as status) s
       cross join lateral (select ${p.unit === 2 ? 'null::date' : 'i.death_date'} as d) i_death
       where ${p.who}
       on conflict do nothing returning 1)
       select count(*)::int as n from added`,
      [opts.referenceDate, programme.id, benefits, opts.owner],
    );
    rows += inserted.n;
  }
  // The status history: the enrolment, and the change to its current status when there was one.
  await db.query(
    `insert into enrolment_status_changes (enrolment_id, status, changed_on, source_id)
     select e.id, 1, e.enrolment_date, e.source_id from enrolments e
     where not exists (select 1 from enrolment_status_changes h where h.enrolment_id = e.id)
     union all
     select e.id, e.status, e.status_changed_on, e.source_id from enrolments e
     where e.status <> 1 and e.status_changed_on is not null and not exists (select 1 from enrolment_status_changes h where h.enrolment_id = e.id)`,
  );
  return rows;
}

/**
 * A disability record for every person with a disability: the impairment follows their main functional limitation
 * (walking -> physical, seeing -> visual...), its cause and onset their age, support what such a limitation needs.
 * Mostly Approved; some Pending, some Expired (assessed more than three years ago).
 */
export async function seedDisabilityRecords(db: Pick<Database, 'query'>, opts: { referenceDate: string }): Promise<number> {
  const [inserted] = await db.query<{ n: number }>(
    `with added as (insert into disability_records (individual_id, status, level, impairments, support, transport_requirement, housing_type, assessed_on, assessor, valid_until)
     select i.id, s.status,
       case when i.disability_info @> '[{"functional_severity": "cannot_do_at_all"}]' then 'severe' else 'moderate' end,
       jsonb_build_array(jsonb_build_object(
         'impairment_type', case l.t when 'seeing' then 'visual' when 'hearing' then 'hearing' when 'walking' then 'physical' when 'self_care' then 'physical'
                                     when 'cognition' then 'intellectual' when 'communication' then 'speech' else 'other' end,
         'impairment_level', case l.s when 'cannot_do_at_all' then 'severe' when 'a_lot_of_difficulty' then 'moderate' else 'mild' end,
         'impairment_cause', case when a.age < 5 then 'congenital' when a.age >= 65 then 'ageing' else (array['illness', 'accident', 'work_accident', 'congenital'])[1 + i.id % 4] end,
         'age_on_set', case when a.age < 5 then 'at_birth' when a.age < 18 then 'childhood' when a.age >= 65 then 'old_age' else 'working_age' end)),
       case l.t
         when 'walking' then '{"assistive_technology": [{"type": "wheelchair", "support_status": "received"}]}'::jsonb
         when 'seeing' then '{"assistive_technology": [{"type": "white cane", "support_status": "received"}]}'::jsonb
         when 'hearing' then '{"assistive_technology": [{"type": "hearing aid", "support_status": "needed"}]}'::jsonb
         when 'self_care' then '{"human_assistance": [{"type": "personal care", "frequency": "daily", "support_status": "received"}]}'::jsonb
         when 'cognition' then '{"human_assistance": [{"type": "supervision", "frequency": "daily", "support_status": "needed"}], "medical_care": [{"type": "psychiatric follow-up", "frequency": "monthly", "support_status": "received"}]}'::jsonb
         else '{}'::jsonb end,
       case when l.t = 'walking' then 'adapted vehicle' end,
       case when l.t in ('walking', 'self_care') and i.id % 2 = 0 then 'adapted housing' end,
       d.assessed, 'District disability assessment board', (d.assessed + interval '3 years')::date
     from individuals i
     cross join lateral (select x->>'disability_limitation_type' as t, x->>'functional_severity' as s from jsonb_array_elements(i.disability_info) x limit 1) l
     cross join lateral (select extract(year from age($1::date, i.birth_date))::int as age) a
     cross join lateral (select case when i.id % 13 = 0 then 2 when i.id % 11 = 0 then 1 else 0 end as status) s
     cross join lateral (select ($1::date - (case when s.status = 2 then 1200 + i.id % 500 else 30 + i.id % 1000 end)::int) as assessed) d
     where i.is_disabled
     on conflict do nothing returning 1)
     select count(*)::int as n from added`,
    [opts.referenceDate],
  );
  return inserted.n;
}
