#include "synth/code_tables.h"

#include <array>

namespace fhirbridge::synth {
namespace {

// Positions in kMedications, named so that the condition table below reads.
constexpr int kNone = -1;
constexpr int kMetformin = 0;
constexpr int kInsulin = 1;
constexpr int kLisinopril = 2;
constexpr int kHydrochlorothiazide = 3;
constexpr int kAmlodipine = 4;
constexpr int kSimvastatin = 5;
constexpr int kLevothyroxine = 6;
constexpr int kPrednisone = 7;
constexpr int kFluticasone = 8;
constexpr int kAlbuterol = 9;
constexpr int kFluoxetine = 10;
constexpr int kMetoprolol = 11;
constexpr int kAspirin = 12;
constexpr int kAcetaminophen = 13;
constexpr int kIbuprofen = 14;
constexpr int kAmoxicillin = 15;
constexpr int kLoratadine = 16;
constexpr int kAllopurinol = 17;
constexpr int kNitrofurantoin = 18;
constexpr int kNaproxen = 19;

constexpr std::string_view kOral = "26643006";
constexpr std::string_view kOralDisplay = "Oral route";
constexpr std::string_view kInhaled = "447694001";
constexpr std::string_view kInhaledDisplay = "Respiratory tract route";
constexpr std::string_view kSubcutaneous = "34206005";
constexpr std::string_view kSubcutaneousDisplay = "Subcutaneous route";
constexpr std::string_view kTablet = "385055001";
constexpr std::string_view kCapsule = "385049006";

constexpr std::array<SpecialtyEntry, kSpecialtyCount> kSpecialties = {{
    {Specialty::kFamilyPractice, "419772000", "Family practice", "Family Medicine Clinic"},
    {Specialty::kCardiology, "394579002", "Cardiology", "Heart and Vascular Clinic"},
    {Specialty::kEndocrinology, "394583002", "Endocrinology", "Diabetes and Endocrine Clinic"},
    {Specialty::kPulmonology, "418112009", "Pulmonary medicine", "Lung Clinic"},
    {Specialty::kPsychiatry, "394587001", "Psychiatry", "Behavioral Health Clinic"},
    {Specialty::kNephrology, "394589003", "Nephrology", "Kidney Clinic"},
    {Specialty::kGastroenterology, "394584008", "Gastroenterology", "Digestive Health Clinic"},
    {Specialty::kNeurology, "394591006", "Neurology", "Neurology Clinic"},
    {Specialty::kOrthopaedics, "394801008", "Trauma and orthopaedics", "Orthopedic Clinic"},
    {Specialty::kRheumatology, "394810000", "Rheumatology", "Rheumatology Clinic"},
    {Specialty::kDermatology, "394582007", "Dermatology", "Dermatology Clinic"},
    {Specialty::kEmergencyMedicine, "773568002", "Emergency medicine", "Emergency Department"},
    {Specialty::kGeneralMedicine, "394802001", "General medicine", "Medical Ward 4B"},
}};

constexpr std::array<ConditionEntry, 26> kConditions = {{
    // Chronic problems.
    {"44054006",
     "Diabetes mellitus type 2",
     "E11.9",
     "Type 2 diabetes mellitus without complications",
     "250.00",
     "Diabetes mellitus without mention of complication, type II or unspecified type, not stated "
     "as uncontrolled",
     "1001",
     "DM2, diet and metformin",
     Specialty::kEndocrinology,
     LabFocus::kDiabetes,
     25,
     true,
     false,
     {kMetformin, kInsulin}},
    {"59621000",
     "Essential hypertension",
     "I10",
     "Essential (primary) hypertension",
     "401.9",
     "Unspecified essential hypertension",
     "1002",
     "HTN",
     Specialty::kCardiology,
     LabFocus::kNone,
     30,
     true,
     false,
     {kLisinopril, kHydrochlorothiazide}},
    {"195967001",
     "Asthma",
     "J45.909",
     "Unspecified asthma, uncomplicated",
     "493.90",
     "Asthma, unspecified type, unspecified",
     "1003",
     "asthma since childhood",
     Specialty::kPulmonology,
     LabFocus::kNone,
     3,
     true,
     false,
     {kFluticasone, kAlbuterol}},
    {"55822004",
     "Hyperlipidemia",
     "E78.5",
     "Hyperlipidemia, unspecified",
     "272.4",
     "Other and unspecified hyperlipidemia",
     "1004",
     "high cholesterol",
     Specialty::kCardiology,
     LabFocus::kLipids,
     30,
     true,
     false,
     {kSimvastatin, kNone}},
    {"40930008",
     "Hypothyroidism",
     "E03.9",
     "Hypothyroidism, unspecified",
     "244.9",
     "Unspecified acquired hypothyroidism",
     "1005",
     "underactive thyroid",
     Specialty::kEndocrinology,
     LabFocus::kThyroid,
     20,
     true,
     false,
     {kLevothyroxine, kNone}},
    {"35489007",
     "Depressive disorder",
     "F32.A",
     "Depression, unspecified",
     "311",
     "Depressive disorder, not elsewhere classified",
     "1006",
     "depression",
     Specialty::kPsychiatry,
     LabFocus::kNone,
     14,
     true,
     false,
     {kFluoxetine, kNone}},
    {"709044004",
     "Chronic kidney disease",
     "N18.9",
     "Chronic kidney disease, unspecified",
     "585.9",
     "Chronic kidney disease, unspecified",
     "1007",
     "CKD",
     Specialty::kNephrology,
     LabFocus::kKidney,
     40,
     true,
     false,
     {kAmlodipine, kNone}},
    {"49436004",
     "Atrial fibrillation",
     "I48.91",
     "Unspecified atrial fibrillation",
     "427.31",
     "Atrial fibrillation",
     "1008",
     "afib",
     Specialty::kCardiology,
     LabFocus::kNone,
     50,
     true,
     false,
     {kMetoprolol, kAspirin}},
    {"396275006",
     "Osteoarthritis",
     "M19.90",
     "Unspecified osteoarthritis, unspecified site",
     "715.90",
     "Osteoarthrosis, unspecified whether generalized or localized, site unspecified",
     "1009",
     "OA both knees",
     Specialty::kOrthopaedics,
     LabFocus::kNone,
     45,
     true,
     false,
     {kNaproxen, kAcetaminophen}},
    {"235595009",
     "Gastroesophageal reflux disease",
     "K21.9",
     "Gastro-esophageal reflux disease without esophagitis",
     "530.81",
     "Esophageal reflux",
     "1010",
     "GERD",
     Specialty::kGastroenterology,
     LabFocus::kNone,
     18,
     true,
     false,
     {kNone, kNone}},
    {"37796009",
     "Migraine",
     "G43.909",
     "Migraine, unspecified, not intractable, without status migrainosus",
     "346.90",
     "Migraine, unspecified, without mention of intractable migraine without mention of status "
     "migrainosus",
     "1011",
     "migraines",
     Specialty::kNeurology,
     LabFocus::kNone,
     12,
     true,
     false,
     {kIbuprofen, kNone}},
    {"13645005",
     "Chronic obstructive lung disease",
     "J44.9",
     "Chronic obstructive pulmonary disease, unspecified",
     "496",
     "Chronic airway obstruction, not elsewhere classified",
     "1012",
     "COPD",
     Specialty::kPulmonology,
     LabFocus::kNone,
     45,
     true,
     false,
     {kAlbuterol, kPrednisone}},
    {"69896004",
     "Rheumatoid arthritis",
     "M06.9",
     "Rheumatoid arthritis, unspecified",
     "714.0",
     "Rheumatoid arthritis",
     "1013",
     "RA",
     Specialty::kRheumatology,
     LabFocus::kNone,
     25,
     true,
     false,
     {kPrednisone, kNone}},
    {"61582004",
     "Allergic rhinitis",
     "J30.9",
     "Allergic rhinitis, unspecified",
     "477.9",
     "Allergic rhinitis, cause unspecified",
     "1014",
     "hay fever",
     Specialty::kFamilyPractice,
     LabFocus::kNone,
     4,
     true,
     false,
     {kLoratadine, kNone}},
    {"90560007",
     "Gout",
     "M10.9",
     "Gout, unspecified",
     "274.9",
     "Gout, unspecified",
     "1015",
     "gout",
     Specialty::kRheumatology,
     LabFocus::kNone,
     30,
     true,
     false,
     {kAllopurinol, kNone}},
    {"197480006",
     "Anxiety disorder",
     "F41.9",
     "Anxiety disorder, unspecified",
     "300.00",
     "Anxiety state, unspecified",
     "1016",
     "anxiety",
     Specialty::kPsychiatry,
     LabFocus::kNone,
     12,
     true,
     false,
     {kNone, kNone}},
    {"24079001",
     "Atopic dermatitis",
     "L20.9",
     "Atopic dermatitis, unspecified",
     "691.8",
     "Other atopic dermatitis and related conditions",
     "1017",
     "eczema",
     Specialty::kDermatology,
     LabFocus::kNone,
     1,
     true,
     false,
     {kNone, kNone}},
    // Acute problems, diagnosed at an encounter.
    {"10509002",
     "Acute bronchitis",
     "J20.9",
     "Acute bronchitis, unspecified",
     "466.0",
     "Acute bronchitis",
     "2001",
     "bronchitis",
     Specialty::kFamilyPractice,
     LabFocus::kInfection,
     0,
     false,
     false,
     {kAcetaminophen, kNone}},
    {"444814009",
     "Viral sinusitis",
     "J01.90",
     "Acute sinusitis, unspecified",
     "461.9",
     "Acute sinusitis, unspecified",
     "2002",
     "sinus infection",
     Specialty::kFamilyPractice,
     LabFocus::kInfection,
     2,
     false,
     false,
     {kAmoxicillin, kNone}},
    {"44465007",
     "Sprain of ankle",
     "S93.409A",
     "Sprain of unspecified ligament of unspecified ankle, initial encounter",
     "845.00",
     "Sprain of ankle, unspecified site",
     "2003",
     "twisted ankle",
     Specialty::kOrthopaedics,
     LabFocus::kNone,
     5,
     false,
     false,
     {kIbuprofen, kNone}},
    {"29857009",
     "Chest pain",
     "R07.9",
     "Chest pain, unspecified",
     "786.50",
     "Chest pain, unspecified",
     "2004",
     "CP r/o ACS",
     Specialty::kCardiology,
     LabFocus::kNone,
     18,
     false,
     true,
     {kAspirin, kNone}},
    {"68566005",
     "Urinary tract infectious disease",
     "N39.0",
     "Urinary tract infection, site not specified",
     "599.0",
     "Urinary tract infection, site not specified",
     "2005",
     "UTI",
     Specialty::kFamilyPractice,
     LabFocus::kInfection,
     2,
     false,
     true,
     {kNitrofurantoin, kNone}},
    {"233604007",
     "Pneumonia",
     "J18.9",
     "Pneumonia, unspecified organism",
     "486",
     "Pneumonia, organism unspecified",
     "2006",
     "CAP",
     Specialty::kPulmonology,
     LabFocus::kInfection,
     0,
     false,
     true,
     {kAmoxicillin, kNone}},
    {"25064002",
     "Headache",
     "R51.9",
     "Headache, unspecified",
     "784.0",
     "Headache",
     "2007",
     "HA",
     Specialty::kNeurology,
     LabFocus::kNone,
     5,
     false,
     false,
     {kAcetaminophen, kNone}},
    {"21522001",
     "Abdominal pain",
     "R10.9",
     "Unspecified abdominal pain",
     "789.00",
     "Abdominal pain, unspecified site",
     "2008",
     "abd pain",
     Specialty::kGastroenterology,
     LabFocus::kNone,
     2,
     false,
     true,
     {kNone, kNone}},
    {"302866003",
     "Hypoglycemia",
     "E16.2",
     "Hypoglycemia, unspecified",
     "251.2",
     "Hypoglycemia, unspecified",
     "2009",
     "low blood sugar",
     Specialty::kEndocrinology,
     LabFocus::kDiabetes,
     10,
     false,
     true,
     {kNone, kNone}},
}};

// Vital signs; ranges are adult reference values, bounds what a living patient can show.
constexpr std::array<ObservationEntry, 8> kVitalSigns = {{
    {"85354-9", "Blood pressure panel with all children optional", "5", "BLOOD PRESSURE", "", "",
     ValueKind::kBloodPressure, 0, 0, 0, 0, 0},
    {"8867-4", "Heart rate", "8", "PULSE", "/min", "beats/minute", ValueKind::kQuantity, 0, 60, 100,
     35, 190},
    {"9279-1", "Respiratory rate", "9", "RESPIRATIONS", "/min", "breaths/minute",
     ValueKind::kQuantity, 0, 12, 20, 8, 60},
    {"8310-5", "Body temperature", "6", "TEMPERATURE", "Cel", "C", ValueKind::kQuantity, 1, 36.1,
     37.2, 35.0, 41.0},
    {"59408-5", "Oxygen saturation in Arterial blood by Pulse oximetry", "10", "PULSE OXIMETRY",
     "%", "%", ValueKind::kQuantity, 0, 95, 100, 82, 100},
    {"29463-7", "Body weight", "14", "WEIGHT/SCALE", "kg", "kg", ValueKind::kQuantity, 1, 0, 0, 2.0,
     250},
    {"8302-2", "Body height", "11", "HEIGHT", "cm", "cm", ValueKind::kQuantity, 1, 0, 0, 45, 210},
    {"39156-5", "Body mass index (BMI) [Ratio]", "301070", "BMI (CALCULATED)", "kg/m2", "kg/m2",
     ValueKind::kQuantity, 1, 18.5, 25.0, 10, 70},
}};

constexpr std::array<ObservationEntry, 2> kBloodPressureComponents = {{
    {"8480-6", "Systolic blood pressure", "5.1", "BP SYSTOLIC", "mm[Hg]", "mmHg",
     ValueKind::kQuantity, 0, 90, 120, 70, 220},
    {"8462-4", "Diastolic blood pressure", "5.2", "BP DIASTOLIC", "mm[Hg]", "mmHg",
     ValueKind::kQuantity, 0, 60, 80, 40, 130},
}};

constexpr std::array<ObservationEntry, kLabTestCount> kLabTests = {{
    {"718-7", "Hemoglobin [Mass/volume] in Blood", "1510001", "HGB", "g/dL", "g/dL",
     ValueKind::kQuantity, 1, 12.0, 17.5, 6.0, 20.0},
    {"6690-2", "Leukocytes [#/volume] in Blood by Automated count", "1510002", "WBC", "10*3/uL",
     "K/uL", ValueKind::kQuantity, 1, 4.5, 11.0, 1.0, 30.0},
    {"777-3", "Platelets [#/volume] in Blood by Automated count", "1510003", "PLATELETS", "10*3/uL",
     "K/uL", ValueKind::kQuantity, 0, 150, 400, 40, 800},
    {"2951-2", "Sodium [Moles/volume] in Serum or Plasma", "1520001", "SODIUM", "mmol/L", "mmol/L",
     ValueKind::kQuantity, 0, 136, 145, 120, 160},
    {"2823-3", "Potassium [Moles/volume] in Serum or Plasma", "1520002", "POTASSIUM", "mmol/L",
     "mmol/L", ValueKind::kQuantity, 1, 3.5, 5.1, 2.5, 7.0},
    {"2160-0", "Creatinine [Mass/volume] in Serum or Plasma", "1520003", "CREATININE", "mg/dL",
     "mg/dL", ValueKind::kQuantity, 2, 0.6, 1.3, 0.2, 8.0},
    {"2345-7", "Glucose [Mass/volume] in Serum or Plasma", "1520004", "GLUCOSE", "mg/dL", "mg/dL",
     ValueKind::kQuantity, 0, 70, 99, 35, 600},
    {"4548-4", "Hemoglobin A1c/Hemoglobin.total in Blood", "1530001", "HEMOGLOBIN A1C", "%", "%",
     ValueKind::kQuantity, 1, 4.0, 5.6, 3.5, 15.0},
    {"2093-3", "Cholesterol [Mass/volume] in Serum or Plasma", "1540001", "CHOLESTEROL", "mg/dL",
     "mg/dL", ValueKind::kQuantity, 0, 100, 199, 80, 400},
    {"2085-9", "Cholesterol in HDL [Mass/volume] in Serum or Plasma", "1540002", "HDL", "mg/dL",
     "mg/dL", ValueKind::kQuantity, 0, 40, 100, 15, 120},
    {"13457-7", "Cholesterol in LDL [Mass/volume] in Serum or Plasma by calculation", "1540003",
     "LDL CALCULATED", "mg/dL", "mg/dL", ValueKind::kQuantity, 0, 0, 99, 20, 300},
    {"2571-8", "Triglyceride [Mass/volume] in Serum or Plasma", "1540004", "TRIGLYCERIDES", "mg/dL",
     "mg/dL", ValueKind::kQuantity, 0, 0, 149, 30, 900},
    {"3016-3", "Thyrotropin [Units/volume] in Serum or Plasma", "1550001", "TSH", "m[IU]/L",
     "mIU/L", ValueKind::kQuantity, 2, 0.4, 4.0, 0.01, 60.0},
    {"5778-6", "Color of Urine", "1560001", "UA COLOR", "", "", ValueKind::kString, 0, 0, 0, 0, 0},
    {"5767-9", "Appearance of Urine", "1560002", "UA APPEARANCE", "", "", ValueKind::kString, 0, 0,
     0, 0, 0},
}};

constexpr std::array<std::string_view, 5> kUrineColors = {"Yellow", "Straw", "Pale yellow", "Amber",
                                                          "Dark yellow"};
constexpr std::array<std::string_view, 4> kUrineAppearances = {"Clear", "Slightly cloudy", "Cloudy",
                                                               "Hazy"};

constexpr std::array<MedicationEntry, 20> kMedications = {{
    {"860975", "24 HR Metformin hydrochloride 500 MG Extended Release Oral Tablet",
     "metFORMIN ER 500 mg tablet", kTablet, "Tablet", kOral, kOralDisplay, 500, 0, "mg", "mg",
     Dosing::kOnceDaily},
    {"106892",
     "insulin isophane, human 70 UNT/ML / insulin regular, human 30 UNT/ML Injectable Suspension "
     "[Humulin]",
     "Humulin 70/30 vial", "", "", kSubcutaneous, kSubcutaneousDisplay, 20, 0, "[IU]", "units",
     Dosing::kSeveralTimings},
    {"314076", "lisinopril 10 MG Oral Tablet", "lisinopril 10 mg tab", kTablet, "Tablet", kOral,
     kOralDisplay, 10, 0, "mg", "mg", Dosing::kOnceDaily},
    {"310798", "Hydrochlorothiazide 25 MG Oral Tablet", "HCTZ 25 mg", kTablet, "Tablet", kOral,
     kOralDisplay, 25, 0, "mg", "mg", Dosing::kOnceDaily},
    {"308136", "amLODIPine 2.5 MG Oral Tablet", "amlodipine 2.5mg", kTablet, "Tablet", kOral,
     kOralDisplay, 25, 1, "mg", "mg", Dosing::kOnceDaily},
    {"312961", "Simvastatin 20 MG Oral Tablet", "simvastatin 20 mg qhs", kTablet, "Tablet", kOral,
     kOralDisplay, 20, 0, "mg", "mg", Dosing::kOnceDaily},
    {"966222", "Levothyroxine Sodium 0.075 MG Oral Tablet", "levothyroxine 75 mcg", kTablet,
     "Tablet", kOral, kOralDisplay, 75, 0, "ug", "mcg", Dosing::kOnceDailyMorningEmptyStomach},
    {"312617", "predniSONE 5 MG Oral Tablet", "prednisone 5mg taper", kTablet, "Tablet", kOral,
     kOralDisplay, 40, 0, "mg", "mg", Dosing::kTaper},
    {"895996", "120 ACTUAT fluticasone propionate 0.044 MG/ACTUAT Metered Dose Inhaler [Flovent]",
     "Flovent HFA 44 mcg inhaler", "", "", kInhaled, kInhaledDisplay, 2, 0, "{puff}", "puff",
     Dosing::kInhaledTwiceDaily},
    {"745679", "200 ACTUAT albuterol 0.09 MG/ACTUAT Metered Dose Inhaler", "albuterol HFA inhaler",
     "", "", kInhaled, kInhaledDisplay, 2, 0, "{puff}", "puff", Dosing::kAsNeeded},
    {"310385", "FLUoxetine 20 MG Oral Capsule", "fluoxetine 20 mg cap", kCapsule, "Capsule", kOral,
     kOralDisplay, 20, 0, "mg", "mg", Dosing::kOnceDaily},
    {"866924", "metoprolol tartrate 25 MG Oral Tablet", "metoprolol tartrate 25 mg BID", kTablet,
     "Tablet", kOral, kOralDisplay, 25, 0, "mg", "mg", Dosing::kTwiceDailyWithMeals},
    {"243670", "aspirin 81 MG Oral Tablet", "baby aspirin 81", kTablet, "Tablet", kOral,
     kOralDisplay, 81, 0, "mg", "mg", Dosing::kOnceDaily},
    {"313782", "Acetaminophen 325 MG Oral Tablet", "Tylenol 325", kTablet, "Tablet", kOral,
     kOralDisplay, 650, 0, "mg", "mg", Dosing::kAsNeeded},
    {"310965", "Ibuprofen 200 MG Oral Tablet", "ibuprofen 200 mg", kTablet, "Tablet", kOral,
     kOralDisplay, 400, 0, "mg", "mg", Dosing::kAsNeeded},
    {"308192", "Amoxicillin 500 MG Oral Tablet", "amoxicillin 500", kTablet, "Tablet", kOral,
     kOralDisplay, 500, 0, "mg", "mg", Dosing::kCourse},
    {"311372", "Loratadine 10 MG Oral Tablet", "Claritin 10 mg", kTablet, "Tablet", kOral,
     kOralDisplay, 10, 0, "mg", "mg", Dosing::kOnceDaily},
    {"197319", "Allopurinol 100 MG Oral Tablet", "allopurinol 100", kTablet, "Tablet", kOral,
     kOralDisplay, 100, 0, "mg", "mg", Dosing::kOnceDaily},
    {"1648755",
     "nitrofurantoin, macrocrystals 25 MG / nitrofurantoin, monohydrate 75 MG Oral Capsule",
     "Macrobid 100 mg", kCapsule, "Capsule", kOral, kOralDisplay, 100, 0, "mg", "mg",
     Dosing::kCourse},
    {"198014", "Naproxen 500 MG Oral Tablet", "naproxen 500 mg", kTablet, "Tablet", kOral,
     kOralDisplay, 500, 0, "mg", "mg", Dosing::kAsNeeded},
}};

constexpr std::array<AllergyEntry, 14> kAllergies = {{
    {kSnomed, "91936005", "Allergy to penicillin", "medication", true},
    {kSnomed, "91935009", "Allergy to peanut", "food", true},
    {kSnomed, "424213003", "Allergy to bee venom", "environment", true},
    {kSnomed, "735971005", "Fish (substance)", "food", false},
    {kSnomed, "442571000124108", "Tree nut (substance)", "food", true},
    {kSnomed, "111088007", "Latex (substance)", "environment", false},
    {kSnomed, "256277009", "Grass pollen (substance)", "environment", false},
    {kSnomed, "260147004", "House dust mite (substance)", "environment", false},
    {kSnomed, "264287008", "Animal dander (substance)", "environment", false},
    {kRxNorm, "7984", "Penicillin V", "medication", true},
    {kRxNorm, "1191", "Aspirin", "medication", false},
    {kRxNorm, "5640", "Ibuprofen", "medication", false},
    {kRxNorm, "10831", "Sulfamethoxazole / Trimethoprim", "medication", false},
    {kRxNorm, "2231", "Cephalexin", "medication", false},
}};

constexpr std::array<CodeEntry, 10> kAllergyReactions = {{
    {"247472004", "Wheal"},
    {"271807003", "Eruption of skin"},
    {"39579001", "Anaphylaxis"},
    {"267036007", "Dyspnea"},
    {"418290006", "Itching"},
    {"402387002", "Allergic angioedema"},
    {"878820003", "Rhinoconjunctivitis"},
    {"300359004", "Finding of vomiting"},
    {"49727002", "Cough"},
    {"56018004", "Wheezing"},
}};

constexpr std::array<std::string_view, 10> kFreeTextAllergies = {
    "Patient states \"the pink antibiotic\" caused hives in childhood",
    "Strawberries?? (parent unsure)",
    "NKDA per old chart",
    "Sulfa - rash",
    "IV contrast dye - patient not sure of reaction",
    "Adhesive bandages / tape",
    "Codeine makes patient vomit",
    "Shellfish - throat swelling, carries epinephrine pen",
    "cats",
    "Allergic to \"most antibiotics\" per family",
};

constexpr std::array<std::string_view, 12> kLegacyMedicationTexts = {
    "Fish oil 1000 mg",
    "Vitamin D3 2000 IU",
    "Herbal sleep tea (ingredients unknown)",
    "Baby aspirin",
    "Metformin 500 - per outside records",
    "Multivitamin w/ minerals",
    "Glucosamine chondroitin",
    "Melatonin 3 mg",
    "Eye drops (name not recalled)",
    "OTC antacid",
    "St. John's wort",
    "BP pill - white, small (pt does not know name)",
};

constexpr std::array<std::string_view, 8> kLegacyDosageTexts = {
    "daily",       "1 tab po qd", "at bedtime when needed", "twice a day w/ food",
    "as directed", "most days",   "1-2 caps PRN",           "unknown",
};

constexpr std::array<std::string_view, 12> kLongTextSentences = {
    "Patient seen for follow-up; reports adherence to the current plan most days of the week.",
    "Reviewed outside records received by fax; several pages illegible, summary transcribed "
    "below.",
    "\"I feel about the same as last time,\" patient says, \"maybe a little more tired.\"",
    "Discussed diet, activity and sleep; printed handouts given in the preferred language.",
    "Vitals reviewed with the patient.\tNo acute distress.\tAlert and oriented.",
    "Medication list reconciled against the pharmacy fill history; two discrepancies noted.",
    "Family history updated: parent with diabetes, sibling with asthma, grandparent with stroke.",
    "Plan: continue current therapy, repeat labs in three months, return sooner if worse.",
    "Care team message thread copied into the note at the patient's request (see below).",
    "Interpreter used for the whole visit; patient verbalised understanding of the plan.",
    "Old note text follows, imported as one block from the legacy system without formatting:",
    "Symptoms reviewed: fatigue \xE2\x80\x94 mild; appetite \xE2\x80\x94 normal; sleep "
    "\xE2\x80\x94 "
    "poor.",
};

constexpr std::array<std::string_view, 6> kFreeTextDosageInstructions = {
    "Take as directed by your cardiologist; dose may change after next visit.",
    "1 tab in the morning, 1/2 tab at night. Hold if dizzy.",
    "Use as instructed on the package.",
    "Take with a full glass of water, do not lie down for 30 minutes.",
    "Resume home dose after discharge",
    "See instructions given at visit",
};

constexpr std::array<std::string_view, 30> kFemaleGivenNames = {
    "Ada",      "Beatrix", "Clara",  "Delphine", "Elsie", "Fern",   "Greta", "Hazel",
    "Iris",     "Juniper", "Lena",   "Maren",    "Nell",  "Opal",   "Petra", "Quinn",
    "Rosalind", "Sylvie",  "Tamsin", "Una",      "Vera",  "Wren",   "Yara",  "Zinnia",
    "Imogen",   "Maribel", "Noor",   "Esme",     "Lucia", "Odette",
};

constexpr std::array<std::string_view, 30> kMaleGivenNames = {
    "Ansel", "Bram",    "Cyrus",   "Dorian", "Emil",     "Felix",   "Gideon", "Hollis",
    "Idris", "Jasper",  "Kellan",  "Linus",  "Magnus",   "Nico",    "Otto",   "Percival",
    "Rafe",  "Silas",   "Tobias",  "Ulric",  "Vaughn",   "Wendell", "Xavier", "Yusuf",
    "Zane",  "Caspian", "Evander", "Ferris", "Lysander", "Orrin",
};

// Family names are built from these two lists ("Test" + "wood"), so that they read as names but
// are plainly invented.
constexpr std::array<std::string_view, 16> kFamilyNamePrefixes = {
    "Test",  "Faux", "Sample", "Mock",    "Proxy", "Dummy", "Stub",  "Placid",
    "Synth", "Demo", "Pseudo", "Replica", "Mimic", "Proto", "Draft", "Fable",
};

constexpr std::array<std::string_view, 16> kFamilyNameSuffixes = {
    "wood",  "ley",  "well",  "ridge", "field", "brook", "ton",   "more",
    "stead", "holm", "croft", "wick",  "dale",  "worth", "combe", "ford",
};

// Non-ASCII spellings: Latin letters with diacritics (precomposed and, in "Rene\u0301e", a
// combining accent), Cyrillic, Greek, CJK and Arabic script.
constexpr std::array<std::string_view, 12> kNonAsciiGivenNames = {
    "Zo\xC3\xAB",  // Zoë
    "Rene\xCC\x81"
    "e",             // Renée with a combining acute accent
    "S\xC3\xB8ren",  // Søren
    "Jos\xC3\xA9",   // José
    "\xC3\x81gnes",  // Ágnes
    "Bj\xC3\xB6rn",  // Björn
    "\xC5\x81ucja",  // Łucja
    "\xC3\x87"
    "a\xC4\x9Fla",                               // Çağla
    "\xD0\x9C\xD0\xB0\xD1\x80\xD0\xB8\xD1\x8F",  // Мария
    "\xCE\x95\xCE\xBB\xCE\xAD\xCE\xBD\xCE\xB7",  // Ελένη
    "\xE6\x98\x8E",                              // 明
    "\xD9\x86\xD9\x88\xD8\xB1",                  // نور
};

constexpr std::array<std::string_view, 10> kNonAsciiFamilyNames = {
    "T\xC3\xABstwood",    // Tëstwood
    "S\xC3\xA4mplewell",  // Sämplewell
    "M\xC3\xB6"
    "ckridge",           // Möckridge
    "Fauxbj\xC3\xB6rk",  // Fauxbjörk
    "Pr\xC3\xB8xyholm",  // Prøxyholm
    "D\xC3\xBCmmyfeld",  // Dümmyfeld
    "Demo\xC3\xB1"
    "ez",                                                        // Demoñez
    "\xD0\xA2\xD0\xB5\xD1\x81\xD1\x82\xD0\xBE\xD0\xB2\xD0\xB0",  // Тестова
    "\xE6\xB5\x8B\xE8\xAF\x95",                                  // 测试
    "Draftowska-\xC5\x81\xC4\x99"
    "cka",  // Draftowska-Łęcka
};

constexpr std::array<std::string_view, 10> kStreetNames = {
    "Imaginary Lane", "Example Way",     "Placeholder Road", "Sample Street",   "Fiction Avenue",
    "Invented Court", "Synthetic Drive", "Mockup Boulevard", "Prototype Place", "Draft Terrace",
};

constexpr std::array<std::string_view, 6> kCityNames = {
    "Sandbox Falls", "Testville", "Mock Harbor", "Fauxton", "Sample Springs", "Placeholder Point",
};

constexpr std::array<CodeEntry, 4> kPhq2Answers = {{
    {"LA6568-5", "Not at all"},
    {"LA6569-3", "Several days"},
    {"LA6570-1", "More than half the days"},
    {"LA6571-9", "Nearly every day"},
}};

}  // namespace

std::span<const SpecialtyEntry> Specialties() { return kSpecialties; }
std::span<const ConditionEntry> Conditions() { return kConditions; }
std::span<const ObservationEntry> VitalSigns() { return kVitalSigns; }
std::span<const ObservationEntry> LabTests() { return kLabTests; }
std::span<const ObservationEntry> BloodPressureComponents() { return kBloodPressureComponents; }
std::span<const std::string_view> UrineColors() { return kUrineColors; }
std::span<const std::string_view> UrineAppearances() { return kUrineAppearances; }
std::span<const MedicationEntry> Medications() { return kMedications; }
std::span<const AllergyEntry> Allergies() { return kAllergies; }
std::span<const CodeEntry> AllergyReactions() { return kAllergyReactions; }
std::span<const std::string_view> FreeTextAllergies() { return kFreeTextAllergies; }
std::span<const std::string_view> LegacyMedicationTexts() { return kLegacyMedicationTexts; }
std::span<const std::string_view> LegacyDosageTexts() { return kLegacyDosageTexts; }
std::span<const std::string_view> LongTextSentences() { return kLongTextSentences; }
std::span<const std::string_view> FreeTextDosageInstructions() {
  return kFreeTextDosageInstructions;
}
std::span<const std::string_view> FemaleGivenNames() { return kFemaleGivenNames; }
std::span<const std::string_view> MaleGivenNames() { return kMaleGivenNames; }
std::span<const std::string_view> FamilyNamePrefixes() { return kFamilyNamePrefixes; }
std::span<const std::string_view> FamilyNameSuffixes() { return kFamilyNameSuffixes; }
std::span<const std::string_view> NonAsciiGivenNames() { return kNonAsciiGivenNames; }
std::span<const std::string_view> NonAsciiFamilyNames() { return kNonAsciiFamilyNames; }
std::span<const std::string_view> StreetNames() { return kStreetNames; }
std::span<const std::string_view> CityNames() { return kCityNames; }
std::span<const CodeEntry> Phq2Answers() { return kPhq2Answers; }

}  // namespace fhirbridge::synth
