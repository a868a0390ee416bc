"""Seed the explanation topics: what each deficiency or problem is, how it affects muscle, what to check
and discuss next, and when to escalate.

Written for clinicians, in the project's own words. Figures agree with the project's clinical background
(shared/DOMAIN.md) and the default reference ranges seeded in labs 0002; each topic names its sources.
The page template carries the notice that this supports and does not replace clinical judgement, so the
sections do not repeat it. Administrators edit the text in the admin afterwards; re-running this migration
resets the seven topics to this text (update_or_create by slug).

Sections are markdown, wrapped here for reading; `as_markdown` stores each paragraph and list item on one
line, so the admin's text box shows whole sentences.
"""

import inspect

from django.db import migrations

SECTIONS = (
    "what_it_is",
    "muscle_symptoms",
    "other_symptoms",
    "mechanism",
    "causes",
    "next_checks",
    "management",
    "escalation",
    "sources",
)

TOPICS = [
    {
        "slug": "vitamin-d-deficiency",
        "title": "Vitamin D deficiency (25-hydroxyvitamin D)",
        "summary": (
            "Low 25-hydroxyvitamin D can cause diffuse muscle pain and proximal weakness; below 10 ng/mL is "
            "severe deficiency and 10–19 ng/mL mild to moderate deficiency."
        ),
        "what_it_is": """
            25-hydroxyvitamin D (25(OH)D, D2 + D3) is the circulating storage form of vitamin D and the accepted
            measure of vitamin D status. The liver makes it from vitamin D formed in sun-exposed skin or taken in
            food and supplements; the kidney then activates it to the hormone 1,25-dihydroxyvitamin D.

            Decision values used by default (Mayo Clinic Laboratories), in ng/mL (multiply by 2.496 for nmol/L):

            - below 10: severe deficiency
            - 10–19: mild to moderate deficiency
            - 20–50: optimal for most people
            - 51–80: higher risk of hypercalciuria
            - above 80: toxicity possible (it is usually seen above 150)

            Guidelines differ on thresholds. The IOM (2011) regards 20 ng/mL as enough for nearly everyone. The
            Endocrine Society's 2011 guideline called 21–29 ng/mL insufficient; its 2024 guideline no longer
            endorses such thresholds in healthy people and advises against routine testing.
        """,
        "muscle_symptoms": """
            - Diffuse, aching musculoskeletal pain that is hard to localise and easily labelled non-specific or
              fibromyalgia
            - Proximal weakness: difficulty rising from a chair or climbing stairs; a waddling gait when severe
            - Fatigue and reduced exercise tolerance
            - In older people, weakness and poorer balance that add to the risk of falls

            Symptoms follow the level only loosely: they are most typical below 10 ng/mL and are often absent in
            mild deficiency.
        """,
        "other_symptoms": """
            - Bone pain, and tenderness when pressing on the shins, ribs or sternum, which suggest osteomalacia
            - Fragility fractures and low bone density
            - Features of low calcium (tingling, cramps, tetany) when deficiency is severe and long-standing
            - Many people, especially with mild deficiency, have no symptoms at all
        """,
        "mechanism": """
            Muscle fibres carry the vitamin D receptor, and vitamin D supports their calcium handling and protein
            synthesis. Deficiency is associated with atrophy of the fast-twitch (type II) fibres that matter for
            rising, climbing and catching a fall.

            Deficiency also cuts the absorption of calcium and phosphate from the gut. Parathyroid hormone rises
            to hold blood calcium up (secondary hyperparathyroidism), phosphate falls and new bone is poorly
            mineralised (osteomalacia), which adds bone pain to the muscle picture. Low vitamin D has also been
            linked to a pro-inflammatory state that may contribute to diffuse pain.
        """,
        "causes": """
            - Limited sun exposure: housebound or care-home residents, covering clothing, high latitude, winter
              months, darker skin
            - Older age: the skin makes less vitamin D and intake is often low
            - Malabsorption: coeliac disease, inflammatory bowel disease, pancreatic insufficiency, bariatric
              surgery
            - Obesity, as vitamin D is held in fat tissue
            - Chronic kidney disease (which also reduces activation) and chronic liver disease
            - Drugs that speed vitamin D breakdown: enzyme-inducing anticonvulsants (e.g. phenytoin,
              carbamazepine), rifampicin; long-term glucocorticoids
        """,
        "next_checks": """
            - Calcium (albumin-corrected), phosphate and alkaline phosphatase: low calcium or phosphate with a
              raised alkaline phosphatase suggests osteomalacia
            - Parathyroid hormone: high with low or normal calcium fits secondary hyperparathyroidism; high with
              high calcium points to primary hyperparathyroidism, which changes management
            - Kidney function (creatinine/eGFR) and magnesium, which vitamin D metabolism needs
            - Coeliac serology or other malabsorption tests when there is no obvious cause
            - CK when weakness is marked, to look for another myopathy
            - Not 1,25-dihydroxyvitamin D: it does not reflect stores and is often normal or high in deficiency
        """,
        "management": """
            - Repletion with vitamin D (usually colecalciferol), following a local or national regimen; severity,
              body weight and absorption guide the choice of loading and maintenance doses
            - Enough dietary calcium alongside repletion
            - Safe sun exposure and dietary sources; long-term maintenance when the cause persists (housebound,
              malabsorption)
            - Treating the cause: malabsorption, enzyme-inducing drugs
            - A calcium check about a month after a loading regimen, which can unmask primary
              hyperparathyroidism
            - Repeat 25(OH)D after about 3 months of treatment, once levels have settled
            - In advanced chronic kidney disease, activated vitamin D is a specialist decision
        """,
        "escalation": """
            - Emergency care: tetany, seizures, laryngospasm or a prolonged QT interval with low calcium
            - Urgent review for toxicity: 25(OH)D above 150 ng/mL, or high calcium with nausea, thirst, polyuria
              or confusion in someone taking vitamin D
            - Prompt endocrine or metabolic bone referral: raised calcium or PTH before or during treatment,
              suspected osteomalacia with fractures or severe proximal weakness, or no response to adequate
              repletion (think of malabsorption or adherence)
            - Weakness that progresses, or a CK that stays raised after repletion: look for another cause of
              myopathy
        """,
        "sources": """
            - Mayo Clinic Laboratories — Test catalogue: 25-Hydroxyvitamin D2 and D3, serum
            - Holick MF et al. Evaluation, treatment, and prevention of vitamin D deficiency: an Endocrine Society
              clinical practice guideline, 2011
            - Demay MB et al. Vitamin D for the prevention of disease: an Endocrine Society clinical practice
              guideline, 2024
            - Institute of Medicine. Dietary Reference Intakes for Calcium and Vitamin D, 2011
            - Royal Osteoporosis Society (formerly National Osteoporosis Society). Vitamin D and bone health: a
              practical clinical guideline for patient management
        """,
    },
    {
        "slug": "magnesium-deficiency",
        "title": "Magnesium deficiency (hypomagnesaemia)",
        "summary": (
            "Low magnesium raises neuromuscular excitability (cramps, twitching, tetany) and often comes with low "
            "potassium and low calcium, which may not correct until magnesium is repleted."
        ),
        "what_it_is": """
            Almost all of the body's magnesium is inside cells and in bone; less than 1% is in the blood. A low
            serum magnesium confirms depletion, but a normal one does not rule it out.

            - Default adult range: 1.70–2.60 mg/dL (0.70–1.07 mmol/L); the Australasian harmonised interval is
              0.70–1.10 mmol/L
            - MaGNet (2022) proposes 0.85 mmol/L (about 2.07 mg/dL) as the lower cut-off, arguing that current
              ranges miss chronic latent deficiency
            - Symptoms usually appear at or below 0.6 mmol/L (about 1.5 mg/dL)
            - Critical low: below 1.0 mg/dL (about 0.41 mmol/L)

            Units: 1 mmol/L = 2.431 mg/dL = 2 mEq/L.
        """,
        "muscle_symptoms": """
            - Cramps, often at night, and painful muscle spasms
            - Twitching (fasciculations), tremor and muscle weakness
            - Positive Chvostek and Trousseau signs; carpopedal spasm and tetany when severe
            - The low potassium and low calcium that often come with it add weakness and more cramping
        """,
        "other_symptoms": """
            - Heart: palpitations, atrial and ventricular arrhythmias, a prolonged QT interval and torsades de
              pointes; greater sensitivity to digoxin toxicity
            - Nervous system: irritability, apathy, confusion, vertigo, nystagmus and, when severe, seizures
            - Poor appetite, nausea and fatigue
            - Laboratory clues: a low potassium or low calcium with no other explanation
        """,
        "mechanism": """
            Magnesium acts as a physiological calcium channel blocker and steadies nerve and muscle membranes.
            When it falls, nerves fire more readily and calcium enters muscle cells more easily, so excitability
            rises: cramps, twitching and tetany.

            Two links matter in practice:

            - **Low potassium:** more than half of clinically significant hypokalaemia comes with magnesium
              deficiency. Low magnesium inside kidney cells lifts its brake on the ROMK potassium channels of the
              distal nephron, so the kidney keeps losing potassium, and potassium stays low until magnesium is
              repleted (Huang & Kuo, 2007).
            - **Low calcium:** magnesium deficiency impairs both the release and the action of parathyroid
              hormone, so hypocalcaemia may not correct until magnesium does.
        """,
        "causes": """
            - Diuretics: loop and thiazide diuretics increase urinary loss, and are the usual setting for low
              magnesium with low potassium
            - Long-term proton pump inhibitors (reduced absorption from the gut)
            - Gut losses and malabsorption: chronic diarrhoea, high-output stoma, coeliac and inflammatory bowel
              disease, short bowel
            - Alcohol use and poor diet; intake tends to fall with older age
            - Poorly controlled diabetes (urinary loss with glycosuria)
            - Heavy sweating and dehydration, e.g. endurance exercise in heat
            - Other drugs: cisplatin, aminoglycosides, amphotericin B, calcineurin inhibitors
            - Chronic kidney disease usually raises magnesium rather than lowering it, which matters for repletion
        """,
        "next_checks": """
            - Potassium and calcium (albumin-corrected, or ionised), since both often fall with magnesium
            - Kidney function (creatinine/eGFR) before repletion, because poor excretion lets magnesium build up
            - ECG if magnesium is below the critical limit, if potassium or calcium is also low, with
              palpitations, or with digoxin or other QT-prolonging drugs
            - Medication review: diuretics, proton pump inhibitors, drugs toxic to the kidney
            - When the cause is unclear, urinary magnesium (fractional excretion) separates kidney from gut loss
            - Repeat serum magnesium after repletion, remembering that a normal value can hide low body stores
        """,
        "management": """
            - Oral magnesium repletion for mild or symptom-free deficiency; diarrhoea often limits the dose
            - Intravenous magnesium, with monitoring, for severe or symptomatic deficiency, arrhythmia or tetany
            - Replete magnesium before or alongside potassium and calcium, or they tend not to correct
            - Review causative drugs: a lower diuretic dose, adding a potassium-sparing diuretic (which also
              reduces magnesium loss), stopping or changing a proton pump inhibitor
            - Smaller doses and closer monitoring in chronic kidney disease
            - Treat the cause (alcohol, diarrhoea, diabetes control) and agree a repeat test interval
        """,
        "escalation": """
            - Emergency care: low magnesium with tetany, seizures, arrhythmia or QT prolongation (risk of
              torsades de pointes)
            - Same-day review: magnesium below 1.0 mg/dL (0.41 mmol/L), even without symptoms; or low magnesium
              with potassium below 2.8 mmol/L or a markedly low calcium
            - Same-day review: magnesium above 4.9 mg/dL, usually from kidney failure or supplements, especially
              with lost reflexes, drowsiness, low blood pressure or slow breathing
            - Specialist advice: deficiency that persists despite repletion, or an unexplained kidney magnesium
              leak
        """,
        "sources": """
            - Huang CL, Kuo E. Mechanism of hypokalemia in magnesium deficiency. J Am Soc Nephrol 2007
            - Rosanoff A et al., MaGNet (Magnesium in Health and Disease) Global Magnesium Project.
              Recommendation on an updated standardization of serum magnesium reference ranges. Eur J Nutr 2022
              (lower cut-off proposal)
            - Mayo Clinic Laboratories — Test catalogue: Magnesium, serum
            - AACB/RCPA Australasian harmonised reference intervals for adults
            - Kost GJ. Critical limits for urgent clinician notification at US medical centers. JAMA 1990
        """,
    },
    {
        "slug": "low-calcium",
        "title": "Low calcium (hypocalcaemia)",
        "summary": (
            "Check albumin before calling a low total calcium real; true hypocalcaemia causes tingling, cramps and "
            "tetany, and needs magnesium, vitamin D and parathyroid hormone looked at."
        ),
        "what_it_is": """
            About 40% of blood calcium is bound to protein, mainly albumin; about half is free (ionised), and only
            that fraction is active. Total calcium therefore falls with albumin even when ionised calcium is normal.

            - Default adult range (Mayo): 8.6–10.0 mg/dL at age 18–59, 8.8–10.2 mg/dL at 60 and over (multiply
              by 0.2495 for mmol/L)
            - Critical low: below 6.6 mg/dL (about 1.65 mmol/L)
            - Albumin-corrected calcium (Payne 1973): Ca + 0.8 × (4.0 − albumin in g/dL), in mg/dL; in SI units,
              Ca + 0.02 × (40 − albumin in g/L), in mmol/L

            **Limits of the correction:** it is unreliable with albumin below 2.5 g/dL, with paraproteins and with
            acid–base disturbance (alkalosis lowers ionised calcium), and less accurate in kidney disease and
            critical illness. Measured ionised calcium is preferred wherever it is available.
        """,
        "muscle_symptoms": """
            - Tingling around the mouth and in the fingers and toes
            - Muscle cramps, stiffness and painful spasms, often in the hands and feet (carpopedal spasm)
            - Tetany; Chvostek sign (facial twitch when the facial nerve is tapped) and Trousseau sign (hand spasm
              with a blood-pressure cuff inflated on the arm)
            - Laryngospasm and bronchospasm when severe
            - Mild or slowly developing hypocalcaemia may cause only fatigue, or nothing
        """,
        "other_symptoms": """
            - Heart: a prolonged QT interval, arrhythmias and, rarely, reversible heart failure
            - Nervous system: seizures, confusion, anxiety or low mood
            - Long-standing hypocalcaemia (e.g. hypoparathyroidism): cataracts, basal ganglia calcification, dry
              skin and coarse hair
            - Clues to the cause: bone pain with vitamin D deficiency, a neck scar after thyroid or parathyroid
              surgery
        """,
        "mechanism": """
            Calcium outside cells steadies nerve membranes by raising the threshold at which their sodium
            channels open. When ionised calcium falls, peripheral nerves depolarise more easily and fire on their
            own, producing tingling, cramps and, at the extreme, sustained contraction (tetany). The problem is
            over-excitable nerves rather than weak muscle, which is why cramps and spasms dominate.

            Low magnesium makes both the excitability and the hypocalcaemia worse, because parathyroid hormone
            needs magnesium to be released and to act.
        """,
        "causes": """
            - Low albumin (an apparent, not a true, hypocalcaemia): check corrected or ionised calcium first
            - Vitamin D deficiency: limited sun exposure, older age, malabsorption
            - Magnesium deficiency: diuretics, proton pump inhibitors, alcohol, diarrhoea
            - Chronic kidney disease: reduced vitamin D activation and phosphate retention
            - Hypoparathyroidism: after thyroid, parathyroid or other neck surgery; autoimmune or genetic
            - Drugs: denosumab and bisphosphonates (especially with low vitamin D), loop diuretics, some
              anticonvulsants, citrate in large transfusions
            - Acute illness: pancreatitis, sepsis, early rhabdomyolysis, tumour lysis
            - Alkalosis, including from hyperventilation, which lowers ionised calcium
        """,
        "next_checks": """
            - Albumin, for the corrected calcium; ionised calcium if albumin is below 2.5 g/dL, with paraproteins
              or with acid–base disturbance
            - Magnesium: a low magnesium has to be corrected first
            - Phosphate: high in kidney disease and hypoparathyroidism, low in vitamin D deficiency
            - Parathyroid hormone: low or inappropriately normal suggests hypoparathyroidism or low magnesium;
              high suggests vitamin D deficiency or kidney disease
            - 25-hydroxyvitamin D and kidney function (creatinine/eGFR)
            - ECG for the QT interval when calcium is markedly low or there are symptoms
            - CK and potassium if muscle injury is suspected
        """,
        "management": """
            - Confirm it is real: corrected or ionised calcium, repeated if unexpected
            - Correct magnesium first, or together with calcium
            - Vitamin D repletion when 25(OH)D is low; oral calcium when intake is poor or hypocalcaemia is mild
            - Intravenous calcium (usually calcium gluconate) with cardiac monitoring, in an acute setting, for
              symptomatic or severe hypocalcaemia
            - Review causative drugs, and check calcium and vitamin D before denosumab or intravenous
              bisphosphonates
            - Endocrine referral for hypoparathyroidism; renal team input in chronic kidney disease
            - A repeat test interval matched to severity and cause
        """,
        "escalation": """
            - Emergency care: tetany, seizures, laryngospasm or stridor, or QT prolongation or arrhythmia with low
              calcium
            - Same-day assessment: corrected calcium below the critical limit of 6.6 mg/dL (1.65 mmol/L), even
              without symptoms; new hypocalcaemia after recent neck surgery; symptomatic hypocalcaemia after
              denosumab
            - Urgent specialist advice: hypocalcaemia that does not correct once magnesium and vitamin D are
              repleted, or that comes with a low parathyroid hormone
        """,
        "sources": """
            - Payne RB et al. Interpretation of serum calcium in patients with abnormal serum proteins. BMJ 1973
            - Mayo Clinic Laboratories — Test catalogue: Calcium, total, serum
            - Society for Endocrinology. Endocrine emergency guidance: emergency management of acute hypocalcaemia
              in adult patients, 2016
            - Kost GJ. Critical limits for urgent clinician notification at US medical centers. JAMA 1990
        """,
    },
    {
        "slug": "potassium-imbalance",
        "title": "Potassium imbalance (low and high potassium)",
        "summary": (
            "Low or high potassium can cause muscle weakness and dangerous arrhythmias; rule out a haemolysed "
            "sample before acting on a high value, and check magnesium when potassium is low."
        ),
        "what_it_is": """
            Potassium is the main cation inside cells; the small fraction outside sets the resting membrane
            potential of nerve, skeletal muscle and heart, so small changes in the blood matter.

            - Default adult serum range: 3.5–5.2 mmol/L (1 mmol/L = 1 mEq/L); plasma reads about 0.1 mmol/L
              lower than serum
            - Critical limits: below 2.8 or above 6.2 mmol/L

            **Haemolysis artefact:** potassium leaks from red cells when a sample is haemolysed, delayed or
            chilled before separation, or taken after a long tourniquet time or fist clenching; very high
            platelet or white cell counts raise serum potassium too. An unexpectedly high result in a well
            patient should be repeated promptly on a carefully taken sample, but a repeat must not delay
            treatment when the ECG is abnormal or the clinical picture fits.
        """,
        "muscle_symptoms": """
            **Low potassium:** fatigue, muscle weakness (often starting in the legs), cramps and myalgia; at very
            low values, flaccid paralysis, weakness of breathing muscles and muscle breakdown (rhabdomyolysis).
            Smooth muscle is affected too, causing constipation or ileus.

            **High potassium:** usually silent until severe; then muscle weakness, tingling and an ascending
            flaccid paralysis can occur.

            Rhabdomyolysis links the two: severe hypokalaemia can cause it, and damaged muscle releases
            potassium, so a high potassium with a very high CK signals serious muscle injury.
        """,
        "other_symptoms": """
            - Heart, in both directions: palpitations, ectopic beats and arrhythmias, the main danger
            - ECG with low potassium: flattened T waves, ST depression, U waves, a prolonged QT; higher risk on
              digoxin
            - ECG with high potassium: peaked T waves, flattened P waves, a wide QRS and slow rhythms, then
              ventricular fibrillation or asystole
            - Low potassium: passing more urine (the kidney concentrates less well) and higher blood glucose
            - Many patients have no symptoms at all, so the ECG tells more than how the patient feels
        """,
        "mechanism": """
            The resting membrane potential depends on the ratio of potassium inside to outside the cell.

            - **Low potassium** makes the membrane more negative (hyperpolarised), so muscle needs a larger
              stimulus to fire: weakness and, eventually, paralysis. It also limits the widening of blood vessels
              in working muscle, which helps explain cramps and rhabdomyolysis.
            - **High potassium** partly depolarises the membrane; sodium channels then inactivate, so muscle and
              heart cells become less excitable, conduction slows and arrhythmias follow.

            Potassium shifts in and out of cells with insulin, beta-agonists and acid–base changes, so the level
            can change quickly without any change in body stores.
        """,
        "causes": """
            **Low potassium**

            - Loop and thiazide diuretics, often with magnesium loss (magnesium deficiency accompanies more than
              half of significant hypokalaemia)
            - Vomiting, diarrhoea, laxative use, high-output stoma
            - Heavy sweating and dehydration
            - Shifts into cells: insulin, beta-agonists, alkalosis
            - Excess mineralocorticoid (primary aldosteronism), liquorice

            **High potassium**

            - Chronic kidney disease and acute kidney injury, especially with dehydration
            - Drugs: ACE inhibitors, angiotensin receptor blockers, mineralocorticoid antagonists,
              potassium-sparing diuretics, NSAIDs, trimethoprim, potassium supplements
            - Release from cells: rhabdomyolysis, tissue breakdown, acidosis, insulin deficiency
            - Haemolysed or delayed samples (artefact)

            Older age raises the risk in both directions, through drugs and declining kidney function.
        """,
        "next_checks": """
            - A prompt repeat when the value is unexpected, especially a high value with a haemolysis flag: a
              carefully taken sample, separated quickly
            - ECG for any value beyond the critical limits, for symptoms, or with heart disease or digoxin
            - Magnesium whenever potassium is low
            - Kidney function (creatinine/eGFR), bicarbonate and glucose
            - CK if there is weakness or muscle pain (rhabdomyolysis can go with either abnormality)
            - Medication review: diuretics, renin–angiotensin blockers, potassium-sparing drugs, supplements
            - Persistent unexplained low potassium with high blood pressure: aldosterone and renin
        """,
        "management": """
            **Low potassium**

            - Oral repletion for mild deficiency; intravenous repletion with monitoring for severe deficiency, ECG
              changes or when oral intake is not possible
            - Replete magnesium too, as potassium often will not correct until magnesium does
            - Review diuretics (a lower dose, a potassium-sparing diuretic or a renin–angiotensin blocker) and
              treat gut losses

            **High potassium**

            - Confirm the value is real, unless the ECG is abnormal
            - Review and pause contributing drugs and supplements; dietary advice in kidney disease
            - Emergency treatment (protecting the heart, shifting potassium into cells, removing potassium)
              follows the local hyperkalaemia protocol

            In both, agree a repeat test interval matched to severity.
        """,
        "escalation": """
            - Emergency care: potassium below 2.8 or above 6.2 mmol/L with ECG changes, arrhythmia, palpitations,
              paralysis or breathing weakness
            - Same-day assessment with an ECG: any value beyond the critical limits, even without symptoms (do not
              wait for a repeat if the sample was not haemolysed)
            - Same-day review: high potassium with a rising creatinine, or with a very high CK or dark urine
              (rhabdomyolysis)
            - Urgent review: low potassium that does not respond to repletion, especially on digoxin
        """,
        "sources": """
            - Mayo Clinic Laboratories — Test catalogue: Potassium, serum
            - AACB/RCPA Australasian harmonised reference intervals for adults
            - Huang CL, Kuo E. Mechanism of hypokalemia in magnesium deficiency. J Am Soc Nephrol 2007
            - UK Kidney Association (formerly Renal Association). Clinical practice guideline: treatment of acute
              hyperkalaemia in adults, 2020
            - Kost GJ. Critical limits for urgent clinician notification at US medical centers. JAMA 1990
        """,
    },
    {
        "slug": "carnitine-deficiency",
        "title": "Carnitine deficiency (primary and secondary)",
        "summary": (
            "Low carnitine limits the use of fat by muscle, causing exertional myalgia, weakness and fasting "
            "hypoglycaemia; the acyl/free ratio helps separate primary from secondary deficiency."
        ),
        "what_it_is": """
            Carnitine carries long-chain fatty acids into mitochondria to be burned, and clears surplus acyl
            groups as acylcarnitines. It comes from the diet (mainly meat and dairy) and from synthesis in liver
            and kidney, and the kidney reabsorbs it.

            Adult defaults (Mayo, 18 and over): free carnitine 25–54 µmol/L, total 34–78 µmol/L. Acylcarnitine is
            total minus free; the acyl/free ratio is normally 0.1–0.8.

            - **Primary deficiency:** an inherited defect of the carnitine transporter OCTN2 (gene SLC22A5) makes
              the kidney waste carnitine; free and total are very low and the ratio is usually normal.
            - **Secondary deficiency:** another condition drains carnitine or ties it up as acylcarnitines; a ratio
              above 0.8 suggests acyl groups are building up (organic acidurias, fatty-acid oxidation defects,
              valproate).
        """,
        "muscle_symptoms": """
            - Exercise intolerance and muscle aching after exertion, when muscle relies most on fat for fuel
            - Proximal weakness and reduced muscle bulk (lipid storage myopathy on biopsy)
            - Fatigue; CK may be normal or raised
            - Episodes of muscle breakdown (rhabdomyolysis) after prolonged exercise, fasting or illness in some
              related fatty-acid oxidation disorders
        """,
        "other_symptoms": """
            - Low blood glucose with low ketones during fasting or illness, with lethargy or confusion
            - Heart: cardiomyopathy and arrhythmias, particularly in primary deficiency
            - Liver: enlargement, raised transaminases and ammonia
            - In adults, primary deficiency can be mild or silent, and is sometimes found only when the newborn
              screen of their child is abnormal
            - On valproate: drowsiness or confusion from raised ammonia
        """,
        "mechanism": """
            Long-chain fatty acids cannot cross the inner mitochondrial membrane on their own: they are attached
            to carnitine, ferried across and released for beta-oxidation. Skeletal and heart muscle depend on
            this route during fasting and sustained exercise.

            With too little carnitine, fat cannot be burned: it collects as lipid droplets in muscle fibres,
            energy supply fails, and muscle aches, weakens or breaks down. The liver cannot make ketones or spare
            glucose either, hence low blood glucose without ketones.
        """,
        "causes": """
            **Primary:** an inherited (autosomal recessive) transporter defect; rare.

            **Secondary**, far more common in adults:

            - Chronic kidney disease, and especially haemodialysis, which removes carnitine
            - Drugs: valproate, pivalate-containing antibiotics (e.g. pivmecillinam), zidovudine
            - Inherited metabolic disorders: organic acidurias and fatty-acid oxidation defects (high acyl/free
              ratio)
            - Malnutrition, malabsorption, and long-term parenteral nutrition without carnitine
            - Liver cirrhosis (less synthesis) and kidney tubular disorders such as Fanconi syndrome (urinary loss)
        """,
        "next_checks": """
            - Repeat free and total carnitine with a plasma acylcarnitine profile, ideally fasting
            - Urine organic acids; urine carnitine if kidney wasting is suspected
            - CK, glucose, liver tests and ammonia
            - Kidney function (creatinine/eGFR) and dialysis status
            - ECG and echocardiogram when primary deficiency is suspected or there are cardiac symptoms
            - Medication review, especially valproate and pivalate antibiotics
            - Genetic testing (SLC22A5) through a metabolic service when values are very low without a secondary
              cause
        """,
        "management": """
            - L-carnitine supplementation: the standard, lifelong treatment for primary deficiency, guided by a
              metabolic specialist
            - Secondary deficiency: treat or remove the cause first; supplementation can be considered on
              specialist advice (e.g. symptomatic patients on dialysis, valproate toxicity)
            - Review drugs: valproate, pivalate antibiotics
            - Avoid prolonged fasting, with a plan for intercurrent illness (regular carbohydrate)
            - Cardiology follow-up when the heart is involved
            - Repeat carnitine levels to confirm the response
        """,
        "escalation": """
            - Emergency care: low blood glucose with confusion or reduced consciousness; breathlessness, fainting
              or arrhythmia suggesting cardiomyopathy
            - Emergency care: dark urine, a very high CK or a rising creatinine after exertion, fasting or illness
              (rhabdomyolysis)
            - Same-day review: drowsiness or confusion on valproate (check ammonia)
            - Prompt metabolic or neuromuscular referral: very low free carnitine, an acyl/free ratio above 0.8
              with no obvious cause, or a suspected inherited disorder
        """,
        "sources": """
            - Mayo Clinic Laboratories — Test catalogue: Carnitine, plasma
            - ARUP Laboratories and Quest Diagnostics — carnitine reference intervals
            - El-Hattab AW. Systemic primary carnitine deficiency. GeneReviews (NCBI Bookshelf)
        """,
    },
    {
        "slug": "vitamin-e-deficiency",
        "title": "Vitamin E deficiency (alpha-tocopherol)",
        "summary": (
            "Vitamin E deficiency is rare and almost always due to fat malabsorption; it causes a slowly "
            "progressive myopathy, neuropathy and ataxia. Read the level alongside blood lipids."
        ),
        "what_it_is": """
            Vitamin E (mainly alpha-tocopherol) is a fat-soluble antioxidant, carried in lipoproteins, that
            protects cell membranes from lipid peroxidation.

            - Default adult range (Mayo, 18 and over): 5.5–17.0 mg/L (multiply by 2.322 for µmol/L)
            - Deficiency: below 5 mg/L (Quest)
            - The level rises with age and with blood lipids: high cholesterol or triglycerides can mask
              deficiency and very low lipids can exaggerate it, so the ratio of vitamin E to total lipids is more
              reliable in those patients

            Dietary deficiency is very rare in adults. Stores in fat tissue last for years, so symptoms develop
            slowly.
        """,
        "muscle_symptoms": """
            - Progressive weakness, mainly proximal (myopathy), sometimes with a raised CK
            - Unsteady gait and poor coordination (spinocerebellar ataxia)
            - Loss of position and vibration sense and reduced or absent reflexes (sensory neuropathy), adding to
              clumsiness and falls
            - Weakness of eye movements (ophthalmoplegia) in long-standing deficiency
        """,
        "other_symptoms": """
            - Visual loss from retinal degeneration (pigmentary retinopathy)
            - Haemolytic anaemia, mainly in premature infants
            - Signs of the underlying malabsorption: fatty stools, weight loss, and low levels of the other
              fat-soluble vitamins (A, D and K: night blindness, bone pain, bruising)
            - Weaker immune responses
        """,
        "mechanism": """
            Muscle and nerve membranes are rich in polyunsaturated fatty acids, which free radicals readily
            oxidise. Vitamin E sits within these membranes and stops the chain reaction of lipid peroxidation.

            Without it, oxidative damage builds up in the membranes of muscle fibres, causing a myopathy, and in
            long sensory nerve fibres and the spinal cord's dorsal columns, causing neuropathy and ataxia. Nerve
            damage recovers poorly and may be only partly reversible, which is the reason to find deficiency
            early.
        """,
        "causes": """
            - Fat malabsorption, the usual cause: cholestatic liver disease, chronic pancreatitis and pancreatic
              insufficiency, cystic fibrosis, coeliac disease, Crohn's disease, short bowel, bariatric surgery
            - Inherited: ataxia with vitamin E deficiency (TTPA gene), abetalipoproteinaemia
            - Very low-fat diets or severe malnutrition (rare)
            - Long-term use of drugs that reduce fat absorption, such as orlistat or bile acid sequestrants
        """,
        "next_checks": """
            - Lipid profile (cholesterol and triglycerides) to interpret the level
            - Other fat-soluble vitamins: vitamin A, 25-hydroxyvitamin D, and INR or prothrombin time for
              vitamin K
            - Tests for malabsorption: faecal elastase, coeliac serology, liver tests
            - CK if there is weakness
            - Neurological examination; nerve conduction studies if neuropathy is suspected
            - Eye examination if vision has changed
            - Genetic testing (TTPA) when the level is very low without malabsorption
        """,
        "management": """
            - Oral vitamin E repletion, using a water-miscible preparation when fat absorption is poor, following
              specialist or local guidance
            - Treating the malabsorption: pancreatic enzyme replacement, a gluten-free diet, management of liver
              disease
            - Replacing other fat-soluble vitamins found low
            - Lifelong supplementation for inherited forms, under specialist care
            - Caution with high doses in patients on anticoagulants (bleeding risk)
            - Repeat vitamin E after a few months of treatment, read alongside lipids
        """,
        "escalation": """
            - Prompt neurology referral: progressive ataxia, falls, loss of position sense or new weakness
            - Prompt ophthalmology referral: night blindness or visual loss
            - Same-day review: bleeding or a raised INR (vitamin K deficiency from the same malabsorption, or
              high-dose vitamin E with anticoagulants)
            - Gastroenterology referral: suspected malabsorption that has not been treated
            - Metabolic or genetics referral: a very low level with no explanation
        """,
        "sources": """
            - Mayo Clinic Laboratories — Test catalogue: Vitamin E, serum
            - Quest Diagnostics — Test directory: Vitamin E (tocopherol)
            - NIH Office of Dietary Supplements. Vitamin E: fact sheet for health professionals
            - Institute of Medicine. Dietary Reference Intakes for Vitamin C, Vitamin E, Selenium, and
              Carotenoids, 2000
        """,
    },
    {
        "slug": "raised-ck",
        "title": "Raised creatine kinase (muscle injury)",
        "summary": (
            "CK rises with muscle injury and is read as multiples of the upper limit of normal (ULN): statins, "
            "exercise, hypothyroidism and deficiency myopathies are common causes; over 40× ULN with kidney injury "
            "is rhabdomyolysis."
        ),
        "what_it_is": """
            Creatine kinase (CK) is an enzyme of muscle energy supply. Damage to skeletal (or heart) muscle
            releases it into the blood, where it peaks about 1–3 days after the injury and falls over the
            following days.

            Default adult ranges (Mayo): male 39–308 U/L, female 26–192 U/L. CK runs higher with large muscle
            mass, in people of African ancestry, after exercise and after intramuscular injections.

            Read CK as multiples of the upper limit of normal (ULN); brackets give the default male / female
            figures:

            - above 4× ULN (1232 / 768 U/L): a marked rise; with statin muscle symptoms, stop the statin (EAS 2015)
            - above 5× ULN (1540 / 960 U/L) or above 1000 U/L, with acute muscle symptoms: rhabdomyolysis by the
              2020 systematic-review definition
            - above 10× ULN (3080 / 1920 U/L) with symptoms: myopathy (EAS 2015)
            - above 40× ULN (12,320 / 7680 U/L) with kidney injury: rhabdomyolysis (EAS 2015)
        """,
        "muscle_symptoms": """
            - None at all: a raised CK is often found by chance
            - Aching, cramps, stiffness or tenderness, with statins typically in large proximal muscles on both
              sides
            - Weakness: rising from a chair, climbing stairs, lifting the arms
            - Swelling and severe pain in one muscle group: acute injury or compartment syndrome
            - Soreness after unaccustomed or downhill (eccentric) exercise, peaking 1–3 days later
        """,
        "other_symptoms": """
            - Dark (tea- or cola-coloured) urine and passing less urine: myoglobin reaching the kidney
            - Fever, confusion or rigidity: infection, heat illness, neuroleptic malignant syndrome
            - Cold intolerance, weight gain, constipation, dry skin: hypothyroidism
            - Rash on the eyelids or knuckles, breathlessness or difficulty swallowing: inflammatory myopathy
            - Chest pain: think of the heart (troponin, ECG)
            - Raised AST and ALT can come from muscle rather than liver
        """,
        "mechanism": """
            CK sits inside muscle fibres, where it keeps energy supply steady by regenerating ATP from creatine
            phosphate. When the fibre membrane is damaged (by trauma, overuse, drugs, failing energy supply or
            inflammation), CK and other contents leak out. The height of the CK reflects how much muscle is
            damaged, not why.

            In large-scale breakdown (rhabdomyolysis), myoglobin injures the kidney tubules; potassium and
            phosphate flood out, risking arrhythmia; and calcium is taken up into damaged muscle, so calcium is
            often low early on.
        """,
        "causes": """
            - Exercise: strenuous or unaccustomed effort, especially eccentric or in heat; also intramuscular
              injections, falls, trauma, seizures and a long lie on the floor
            - Drugs: statins and fibrates, with higher risk when combined, at high doses, with interacting drugs,
              with older age, chronic kidney disease or hypothyroidism; also colchicine, antipsychotics,
              zidovudine, alcohol and cocaine
            - Hypothyroidism
            - Low potassium or phosphate; deficiency myopathies from low vitamin D, carnitine or vitamin E
            - Dehydration, heavy sweating and heat illness
            - Viral infections, inflammatory myopathies, muscular dystrophies and metabolic myopathies
            - Physiological: large muscle mass, African ancestry
        """,
        "next_checks": """
            - Repeat CK after about a week without strenuous exercise or intramuscular injections, to separate a
              passing rise from a persistent one
            - When CK is high or there are symptoms: kidney function (creatinine/eGFR), potassium, calcium,
              phosphate, and a urine dipstick (blood-positive without red cells suggests myoglobin)
            - Thyroid function (TSH), especially for a raised CK without symptoms
            - Medication review: statin dose and type, fibrates, interacting drugs
            - 25-hydroxyvitamin D, magnesium and potassium when the picture suggests a deficiency myopathy
            - A persistent unexplained rise, or weakness: neuromuscular assessment (EMG, antibodies, biopsy)
        """,
        "management": """
            - After exercise: rest, fluids and a repeat test before calling it abnormal
            - Statin muscle symptoms (EAS 2015): with CK below 4× ULN, the statin may be continued, or paused and
              re-challenged; above 4× ULN with symptoms, stop it and recheck CK; above 10× ULN, stop it and check
              kidney function
            - Once CK and symptoms settle: a lower dose, a different statin, or a non-statin lipid-lowering drug
            - Treating hypothyroidism or correcting a deficiency, then rechecking CK
            - Reviewing other causative drugs and alcohol
            - Suspected rhabdomyolysis: hospital care with intravenous fluids and monitoring
        """,
        "escalation": """
            - Emergency care: raised CK with dark urine, little urine, a rising creatinine or high potassium
              (possible rhabdomyolysis with kidney injury)
            - Emergency care: rapidly worsening weakness, difficulty breathing or swallowing; fever with rigidity
              or confusion; a tense, painful limb (compartment syndrome)
            - Same-day assessment: CK above 1000 U/L or above 5× ULN with acute muscle pain, weakness or
              swelling; CK above 10× ULN in a patient on a statin
            - Prompt neuromuscular referral: a persistent unexplained raised CK, weakness on examination, or
              repeated exertional rhabdomyolysis
        """,
        "sources": """
            - Mayo Clinic Laboratories — Test catalogue: Creatine kinase (CK), serum
            - Stroes ES et al. Statin-associated muscle symptoms: impact on statin therapy. European
              Atherosclerosis Society consensus panel statement on assessment, aetiology and management. Eur Heart
              J 2015
            - Stahl K, Rastelli E, Schoser B. A systematic review on the definition of rhabdomyolysis. J Neurol
              2020
            - Kyriakides T et al. EFNS guidelines on the diagnostic approach to pauci- or asymptomatic
              hyperCKemia. Eur J Neurol 2010
        """,
    },
]


def as_markdown(text):
    """Dedent, then join each wrapped line onto the paragraph or list item it continues."""
    lines = []
    for line in inspect.cleandoc(text).splitlines():
        continues = line.strip() and not line.startswith("- ") and lines and lines[-1]
        if continues:
            lines[-1] += " " + line.strip()
        else:
            lines.append(line)
    return "\n".join(lines)


def seed_topics(apps, schema_editor):
    Topic = apps.get_model("guidance", "Topic")
    for topic in TOPICS:
        defaults = {"title": topic["title"], "summary": topic["summary"]}
        defaults.update({section: as_markdown(topic[section]) for section in SECTIONS})
        Topic.objects.update_or_create(slug=topic["slug"], defaults=defaults)


class Migration(migrations.Migration):
    dependencies = [("guidance", "0001_initial")]
    operations = [migrations.RunPython(seed_topics, migrations.RunPython.noop)]
